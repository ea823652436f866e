#!/usr/bin/env bash
# Installs the Debian 12 packages r1.cpp needs to build, test and run its demo, when missing.
# Idempotent and non-interactive; a no-op when everything is present.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config git
  libopenblas-dev libhwy-dev libpcre2-dev libutf8proc-dev
  nlohmann-json3-dev libcpp-httplib-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang libclang-rt-14-dev
  gnuplot-nox
  python3-numpy
)
# What needs what: the compilers/cmake/ninja/pkg-config build; the -dev libraries are the
# find_package/pkg_check_modules of CMakeLists.txt; clang + libclang-rt-14-dev (libFuzzer) build
# the fuzz harnesses of scripts/test.sh; gnuplot draws `r1 grpo` charts; python3-numpy runs the
# independent GGUF writer/reader of ../shared/bench/gguf in the io and CLI tests.
missing=()
for p in "${pkgs[@]}"; do
  # No pipe into `grep -q`: under pipefail an early-closing grep can fail the check at random.
  [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] ||
    missing+=("$p")
done
# Node.js + npm for the `r1 serve` tests through the openai npm client (tests/node). Only when
# absent: a NodeSource nodejs (which bundles npm) conflicts with Debian's npm package.
if ! command -v node >/dev/null 2>&1; then
  missing+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
