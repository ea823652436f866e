#!/usr/bin/env bash
# make test: the full test suite, the sanitizer build of the parser/kernel unit tests, a short fuzz
# run. The last thing printed is the time each part took (build from $R1_BUILD_SECONDS, which the
# Makefile measures) and the result.
set -euo pipefail
BUILD=$1 ASAN=$2 FUZZ=$3 JOBS=$4
export R1_SHARED=${R1_SHARED:-$(cd "$(dirname "$0")/.." && pwd)/../shared}

# Time per part: `section NAME` ends the running part and starts NAME; the report prints on any
# exit (a failing part included).
part_names=() part_secs=() part_name="" part_t0=$SECONDS
section() {
  if [ -n "$part_name" ]; then part_names+=("$part_name"); part_secs+=($((SECONDS - part_t0))); fi
  part_name=$1 part_t0=$SECONDS
}
report() {
  local rc=$? i
  section ""
  echo "== time per part"
  [ -n "${R1_BUILD_SECONDS:-}" ] && printf '  %-11s %5ds\n' build "$R1_BUILD_SECONDS"
  for i in "${!part_names[@]}"; do printf '  %-11s %5ds\n' "${part_names[$i]}" "${part_secs[$i]}"; done
  printf '  %-11s %5ds\n' total $((SECONDS + ${R1_BUILD_SECONDS:-0}))
  if [ "$rc" -eq 0 ]; then echo "make test: PASSED"; else echo "make test: FAILED (exit $rc)"; fi
}
trap report EXIT

section sanitizers

echo "== sanitizer build (ASan + UBSan): unit tests of parsers and kernels"
cmake -S . -B "$ASAN" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR1_SANITIZE=ON -DR1_ONLY_UNIT=ON \
  -DR1_BUILD_BENCH=OFF >/dev/null
# Every unit-test target of these folders exists (R1_ONLY_UNIT builds them all); no "--target help"
# probe: under pipefail, grep -q closing the pipe early made that probe fail at random.
cmake --build "$ASAN" -j "$JOBS" --target r1_core_tests r1_quant_tests r1_kernels_tests r1_io_tests \
  r1_tokenizer_tests
if ! (cd "$ASAN" && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j "$JOBS" \
     -R '^(core|quant|kernels|io|tokenizer)\.' >ctest-asan.log 2>&1); then
  cat "$ASAN/ctest-asan.log"; echo "sanitizer unit tests failed"; exit 1
fi
tail -n 3 "$ASAN/ctest-asan.log"

section fuzz
if [ -d fuzz ] && ls fuzz/*_fuzz.cpp >/dev/null 2>&1; then
  echo "== fuzz: every header parser, briefly"
  CC=clang CXX=clang++ cmake -S . -B "$FUZZ" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DR1_FUZZ=ON \
    -DR1_ONLY_UNIT=ON -DR1_BUILD_BENCH=OFF -DBUILD_TESTING=OFF >/dev/null
  for f in fuzz/*_fuzz.cpp; do
    n=$(basename "$f" .cpp)
    cmake --build "$FUZZ" -j "$JOBS" --target "$n" >/dev/null
    mkdir -p "$FUZZ/corpus-$n"
    dirs=("$FUZZ/corpus-$n")
    [ -d "fuzz/seeds/$n" ] && dirs+=("fuzz/seeds/$n")  # libFuzzer exits on a missing corpus dir
    "$FUZZ/$n" -max_total_time="${R1_FUZZ_SECONDS:-20}" -rss_limit_mb=2048 "${dirs[@]}" 2>&1 | tail -n 1
  done
fi

# The main suite in three parts (timed apart); every skip must name an absent prerequisite.
status=0
: >"$BUILD/ctest-main.log"
full_logs=()
main_part() {  # NAME CTEST-ARGS...: runs one part, keeps its console and full output logs
  local name=$1; shift
  section "$name"
  echo "== $name tests"
  # Skipped tests count as passed for the output size limit: keep their whole "[needs TAG]" text.
  (cd "$BUILD" && ctest --output-on-failure --no-tests=error -j "$JOBS" \
    --test-output-size-passed 65536 "$@") 2>&1 | tee -a "$BUILD/ctest-main.log" || status=1
  cp "$BUILD/Testing/Temporary/LastTest.log" "$BUILD/ctest-$name-full.log" &&
    full_logs+=("$BUILD/ctest-$name-full.log")
}
# model: the tests that load or train whole models; CLI: the built r1 binary end to end.
main_part unit -E '^(models|train|cli)\.|^server\.node$'
main_part model -R '^(models|train)\.'
main_part CLI -R '^cli\.|^server\.node$'
section ""
if [ -d "$R1_SHARED" ] && ! grep -qE 'Test +#[0-9]+: cli\.' "$BUILD/ctest-main.log"; then
  echo "test.sh: no cli.* tests ran although $R1_SHARED exists (is r1_cli_tests built?)" >&2
  status=1
fi
bash "$(dirname "$0")/skip_guard.sh" "$BUILD/ctest-main.log" "${full_logs[@]}" || status=1
exit "$status"
