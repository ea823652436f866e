# r1.cpp: `make demo` and `make test` each install what they need (Debian packages), build, run.
BUILD ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build test unit asan fuzz demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Everything: the sanitizer build of the unit tests, a short fuzz run of every header parser, then
# unit + model + CLI tests; the build is timed here so the report of scripts/test.sh includes it.
test: deps
	@start=$$(date +%s); $(MAKE) --no-print-directory build && \
	  R1_BUILD_SECONDS=$$(($$(date +%s) - start)) bash scripts/test.sh "$(BUILD)" "$(ASAN_BUILD)" "$(FUZZ_BUILD)" "$(JOBS)"

unit: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

demo: build
	@bash scripts/demo.sh "$(BUILD)"

bench: build
	@bash scripts/bench.sh "$(BUILD)"

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
