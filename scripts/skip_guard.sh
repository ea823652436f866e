#!/usr/bin/env bash
# The skip guard of `make test`: every skipped test must name a missing prerequisite.
# Usage: scripts/skip_guard.sh CONSOLE_LOG FULL_LOG...
#   CONSOLE_LOG: what `ctest` printed (its "Test #N: NAME ...***Skipped" lines name the skips);
#   FULL_LOG:    CTest's Testing/Temporary/LastTest.log of those runs (each test's whole output).
# A test may skip only through R1_SKIP_NEEDS / R1_SKIP_UNLESS_* (src/core/test_util.h) or exit 77
# with "[needs TAG]" (scripts/server_node_test.sh). This script checks each TAG's prerequisite
# itself and exits 1, naming the tests, when a test skipped for a prerequisite that is present,
# for one that scripts/install-deps.sh installs (so `make test` has it), or without a known tag.
# Tags: shared (the $R1_SHARED folder), numpy, npm (installed by install-deps: never a skip),
# npm-registry (the npm registry answers `npm ping`), sysfs (/sys CPU topology), oracle (llama.cpp's
# llama_oracle and llama_quantize, built by ../shared/bench/llamacpp/build_oracle.sh).
set -uo pipefail
console=$1; shift

# Why a prerequisite counts as present ("" when it is absent, so the skip is allowed).
present() {
  case "$1" in
    shared) [ -n "${R1_SHARED:-}" ] && [ -d "$R1_SHARED" ] && echo "$R1_SHARED exists" ;;
    numpy) echo "python3-numpy is installed by scripts/install-deps.sh (make deps)" ;;
    npm) echo "node and npm are installed by scripts/install-deps.sh (make deps)" ;;
    npm-registry)
      command -v npm >/dev/null 2>&1 && timeout 20 npm ping >/dev/null 2>&1 &&
        echo "the npm registry answers npm ping" ;;
    sysfs) [ -d /sys/devices/system/cpu/cpu0/topology ] && echo "/sys/devices/system/cpu/cpu0/topology exists" ;;
    oracle)  # llama.cpp's llama_oracle + llama_quantize (../shared/bench/llamacpp/build_oracle.sh)
      o=${R1_LLAMA_ORACLE:-$HOME/r1-peers/llamacpp/llama_oracle}
      q=${R1_LLAMA_QUANTIZE:-$HOME/r1-peers/llamacpp/llama_quantize}
      [ -x "$o" ] && [ -x "$q" ] && echo "the llama.cpp oracle exists ($o, $q)" ;;
    *) echo "'$1' is not a known tag (add it to scripts/skip_guard.sh)" ;;
  esac
}

mapfile -t skipped < <(sed -nE 's/^.*Test +#[0-9]+: ([^ ]+) .*\*\*\*Skipped.*$/\1/p' "$console" | sort -u)
[ ${#skipped[@]} -eq 0 ] && exit 0

# NAME<TAB>TAG for every test output in the full logs (TAG: the first "[needs X]", or "-").
tags=$(awk '
  /^[0-9]+\/[0-9]+ Testing: / { name = $3; tag = "-"; next }
  /^<end of output>$/ { if (name != "") print name "\t" tag; name = ""; next }
  name != "" && tag == "-" && match($0, /\[needs [a-z0-9-]+\]/) {
    tag = substr($0, RSTART + 7, RLENGTH - 8)
  }' "$@")

bad=0 allowed=()
for t in "${skipped[@]}"; do
  tag=$(printf '%s\n' "$tags" | awk -F'\t' -v n="$t" '$1 == n { print $2; exit }')
  if [ -z "$tag" ] || [ "$tag" = "-" ]; then
    echo "skip_guard: $t SKIPPED without a [needs TAG] message (skip only through R1_SKIP_NEEDS)" >&2
    bad=1
  elif why=$(present "$tag") && [ -n "$why" ]; then
    echo "skip_guard: $t SKIPPED for [needs $tag], but $why" >&2
    bad=1
  else
    allowed+=("$tag")
  fi
done
if [ ${#allowed[@]} -gt 0 ]; then
  echo "skip_guard: ${#allowed[@]} tests skipped for absent prerequisites:" \
    "$(printf '%s\n' "${allowed[@]}" | sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}')"
fi
exit "$bad"
