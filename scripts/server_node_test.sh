#!/usr/bin/env bash
# Runs the Node.js tests of `r1 serve` (tests/node/*.test.mjs) through the real `openai` npm
# client. Usage: scripts/server_node_test.sh [R1_BIN]. Exits 77 (CTest's SKIP_RETURN_CODE) with a
# "[needs TAG]" message (scripts/skip_guard.sh checks it) when node/npm, the shared data folder or
# the npm registry is unavailable; a missing r1 binary or shared tokenizer file is a failure.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export R1_BIN=${1:-${R1_BIN:-$ROOT/build/r1}}
export R1_SHARED=${R1_SHARED:-$ROOT/../shared}
skip() { echo "server_node_test: SKIPPED: [needs $1] ${*:2}" >&2; exit 77; }
fail() { echo "server_node_test: FAILED: $*" >&2; exit 1; }

if ! command -v node >/dev/null 2>&1; then
  # Only when there is no node at all: Debian's nodejs conflicts with a NodeSource install.
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
  if command -v apt-get >/dev/null 2>&1; then
    echo "server_node_test: node missing; installing Debian's nodejs npm" >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null 2>&1 || true
  fi
fi
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || skip npm "node and npm are not installed"
major=$(node -p 'process.versions.node.split(".")[0]')
[ "$major" -ge 18 ] || skip npm "node $(node --version) is too old (need >= 18 for fetch and node:test)"
[ -x "$R1_BIN" ] || fail "no r1 binary at $R1_BIN"
# The tests run from tests/node: a relative path must not silently turn into "binary not found".
R1_BIN=$(realpath "$R1_BIN"); export R1_BIN
[ -d "$R1_SHARED" ] || skip shared "no shared data folder at $R1_SHARED (set R1_SHARED)"
for f in tokenizers/r1_distill_qwen/tokenizer.json models/stories260K/stories260K.gguf; do
  [ -f "$R1_SHARED/$f" ] || fail "the shared data folder $R1_SHARED lacks $f"
done

cd "$ROOT/tests/node" || exit 1
if [ ! -f node_modules/openai/package.json ]; then
  # package-lock.json pins the exact client version.
  timeout 300 npm ci --no-audit --no-fund --loglevel=error >&2 || skip npm-registry "npm ci failed (is the npm registry reachable?)"
fi
# The test files skip themselves when a file they need is missing (their `skip:` conditions); this
# script has checked the folder exists, so a skip inside node is a failure, not a green run.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
node --test --test-concurrency=1 ./*.test.mjs 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
if [ "$rc" -eq 0 ] && grep -qE '^(# |ℹ )skipped [1-9]' "$log"; then
  fail "node tests were skipped although $R1_SHARED exists (a test's skip: condition held)"
fi
exit "$rc"
