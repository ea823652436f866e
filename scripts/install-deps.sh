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
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
