# r1.cpp: `make demo` and `make test` each install what they need (Debian packages), build, run.
BUILD ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_SECONDS ?= 600
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps configure build test unit fuzz-long demo bench clean

all: build

deps:
	@bash scripts/install-deps.sh

configure: deps
	@cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS) >/dev/null

build: configure
	@cmake --build $(BUILD) -j $(JOBS)

# Everything: every folder's unit tests under ASan + UBSan, the core tests under TSan
# (R1_TEST_TSAN=all adds the server's, 0 none), a short run of every fuzz harness, then unit + model + CLI
# tests; the build is timed here so the report of scripts/test.sh includes it.
test: deps
	@start=$$(date +%s); $(MAKE) --no-print-directory build && \
	  R1_BUILD_SECONDS=$$(($$(date +%s) - start)) bash scripts/test.sh "$(BUILD)" "$(ASAN_BUILD)" "$(TSAN_BUILD)" "$(JOBS)"

# Every fuzz harness for FUZZ_SECONDS each (make fuzz-long FUZZ_SECONDS=N), on the sanitizer
# build make test uses; execution counts accumulate in $(ASAN_BUILD)/fuzz-runs.tsv. Extra libFuzzer
# flags: R1_FUZZ_ARGS="-max_len=2048" make fuzz-long.
fuzz-long: deps
	@CC=clang CXX=clang++ cmake -S . -B $(ASAN_BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" -DR1_FUZZ=ON -DR1_ONLY_UNIT=ON \
	  -DR1_BUILD_BENCH=OFF >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS) --target $(patsubst fuzz/%.cpp,%,$(wildcard fuzz/*_fuzz.cpp))
	@bash scripts/fuzz.sh "$(ASAN_BUILD)" "$(FUZZ_SECONDS)"

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD)
