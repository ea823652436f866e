#!/usr/bin/env bash
# make bench: runs the matmul micro-benchmarks (bench/matvec_bench.cpp) and prints the machine's
# memory bandwidth (../shared/bench/membw, STREAM-like) next to them, so decode GB/s can be read
# as a fraction of what DRAM delivers. Benchmarks never assert; they only report.
# Usage: scripts/bench.sh [build-dir]   (env R1_SHARED: shared data dir; R1_BENCH_ARGS: extra
#        Google Benchmark flags, e.g. --benchmark_filter=Matvec)
set -euo pipefail
BUILD=${1:-build}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${R1_SHARED:-$ROOT/../shared}

cmake --build "$BUILD" --target matvec_bench >/dev/null

echo "== machine: $(nproc) CPUs; load average: $(cut -d' ' -f1-3 /proc/loadavg)" \
  "(other jobs running make both figures below unreliable)"
MEMBW_SRC="$SHARED/bench/membw/membw.c"
if [ -f "$MEMBW_SRC" ] && command -v gcc >/dev/null; then
  gcc -O3 -march=native -fopenmp "$MEMBW_SRC" -o "$BUILD/membw"
  echo "== memory bandwidth (membw, 1 GiB arrays, best of 3; 'read' is the figure to compare)"
  bw=()
  for th in 1 2; do
    out=$(OMP_NUM_THREADS=$th OMP_PROC_BIND=true "$BUILD/membw" 1024 3 2>/dev/null)
    printf '%s\n' "$out" | grep -E "threads=|read"
    gbps=$(printf '%s\n' "$out" | awk '$1 == "read" {print $2}')
    if [ -n "$gbps" ]; then bw+=("$th=$gbps"); fi
  done
  # matvec_bench prints membw_GB/s and %membw next to each DRAM-streaming matvec's GB/s.
  R1_MEMBW_READ_GBPS=$(IFS=,; echo "${bw[*]}")
  export R1_MEMBW_READ_GBPS
else
  echo "== memory bandwidth: skipped ($MEMBW_SRC not found; set R1_SHARED)"
fi

echo "== matmul benchmarks (GB/s = weight bytes read per second; GFLOP/s = 2*T*N*K per second)"
# shellcheck disable=SC2086
"$BUILD/matvec_bench" --benchmark_min_time=0.5 ${R1_BENCH_ARGS:-}
