# r1.cpp: `make demo` and `make test` each install what they need (Debian packages), build, run.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test unit asan fuzz demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Everything: unit + model + CLI tests, then the sanitizer build of the unit tests, then a short
# fuzz run of every header parser.
test: build
	@bash scripts/test.sh "$(BUILD)" "$(ASAN_BUILD)" "$(FUZZ_BUILD)" "$(JOBS)"

unit: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The demo runs only the r1 binary (`r1 zero` starts its stages as /proc/self/exe), so it builds
# that target alone, not the test binaries.
demo: configure
	@cmake --build $(BUILD) -j $(JOBS) --target r1
	@bash scripts/demo.sh "$(BUILD)"

bench: build
	@bash scripts/bench.sh "$(BUILD)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
