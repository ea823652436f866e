#!/usr/bin/env bash
# make test: every unit-test folder under ASan + UBSan, core under TSan (R1_TEST_TSAN=all: + server), a short run of every fuzz
# harness, then the main suite (unit, model, CLI). The
# last thing printed is the time each part took (build from $R1_BUILD_SECONDS, which the Makefile
# measures) and the result.
set -euo pipefail
BUILD=$1 ASAN=$2 TSAN=$3 JOBS=$4
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

# Sanitizer builds use -O1 with line tables only: as fast to compile as -O0, several times faster
# to run under ASan than -O0, and every report still names file:line.
SAN_FLAGS=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1"
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -g1" -DR1_ONLY_UNIT=ON -DR1_BUILD_BENCH=OFF)

# Every source folder with unit tests runs them under ASan + UBSan (issue 21).
ASAN_FOLDERS=()
for d in src/*/; do
  compgen -G "${d}*_test.cpp" >/dev/null && ASAN_FOLDERS+=("$(basename "$d")")
done

section sanitizers
echo "== sanitizers: ASan + UBSan over the unit tests of ${ASAN_FOLDERS[*]} (clang; the same build holds the fuzzers)"
t0=$SECONDS
CC=clang CXX=clang++ cmake -S . -B "$ASAN" -G Ninja "${SAN_FLAGS[@]}" -DR1_FUZZ=ON \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" >/dev/null
cmake --build "$ASAN" -j "$JOBS" --target $(printf 'r1_%s_tests ' "${ASAN_FOLDERS[@]}") \
  $(for f in fuzz/*_fuzz.cpp; do basename "$f" .cpp; done)
echo "sanitizer build (ASan): $((SECONDS - t0)) s"
t1=$SECONDS
asan_re="^($(IFS='|'; echo "${ASAN_FOLDERS[*]}"))\\."
# OpenBLAS's own threads are not instrumented; one thread keeps reports about our code only.
if ! (cd "$ASAN" && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
     OPENBLAS_NUM_THREADS=1 ctest --output-on-failure -j "$JOBS" -R "$asan_re" \
     >ctest-asan.log 2>&1); then
  cat "$ASAN/ctest-asan.log"; echo "sanitizer (ASan + UBSan) unit tests failed"; exit 1
fi
tail -n 3 "$ASAN/ctest-asan.log"
echo "sanitizer unit tests (ASan): $((SECONDS - t1)) s"

# ThreadSanitizer over the threaded code: the pool (core) always; the server (HTTP workers, the
# admission queue, the batcher thread) with R1_TEST_TSAN=all, because its tests link every
# library and a second full sanitizer build does not fit make test's 30 minutes on 2 cores.
# One Highway target is enough here: TSan checks threads, not SIMD paths. cpp-httplib's own race
# is suppressed (scripts/tsan.supp says why). R1_TEST_TSAN=0 skips TSan.
tsan_mode=${R1_TEST_TSAN:-core}
if [ "$tsan_mode" != 0 ]; then
  tsan_folders=(core)
  [ "$tsan_mode" = all ] && tsan_folders+=(server)
  section tsan
  echo "== sanitizers: TSan over the unit tests of ${tsan_folders[*]} (clang)"
  t0=$SECONDS
  CC=clang CXX=clang++ cmake -S . -B "$TSAN" -G Ninja "${SAN_FLAGS[@]}" -DR1_SANITIZE=thread \
    "-DCMAKE_CXX_FLAGS=-DHWY_COMPILE_ONLY_STATIC=1" >/dev/null
  cmake --build "$TSAN" -j "$JOBS" --target $(printf 'r1_%s_tests ' "${tsan_folders[@]}")
  echo "sanitizer build (TSan): $((SECONDS - t0)) s"
  supp="$(pwd)/scripts/tsan.supp"
  tsan_re="^($(IFS='|'; echo "${tsan_folders[*]}"))\\."
  if ! (cd "$TSAN" && TSAN_OPTIONS="halt_on_error=1:suppressions=$supp" \
       OPENBLAS_NUM_THREADS=1 ctest --output-on-failure -j "$JOBS" -R "$tsan_re" \
       >ctest-tsan.log 2>&1); then
    cat "$TSAN/ctest-tsan.log"; echo "sanitizer (TSan) unit tests failed"; exit 1
  fi
  tail -n 3 "$TSAN/ctest-tsan.log"
fi

section fuzz
echo "== fuzz: every harness in fuzz/, ${R1_FUZZ_SECONDS:-6} s each"
t3=$SECONDS
bash scripts/fuzz.sh "$ASAN" "${R1_FUZZ_SECONDS:-6}"
echo "fuzz: $((SECONDS - t3)) s"

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
