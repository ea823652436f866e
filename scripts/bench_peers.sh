#!/usr/bin/env bash
# r1 bench next to llama.cpp on the same GGUF files, in the same run (issues 3 and 5).
# Not part of `make test` (benchmarks need an idle machine and ~10 GB of disk).
#
# Usage: scripts/bench_peers.sh [qwen|ds|all]   (default all)
# Env:   BUILD (default build), MODELS (default $HOME/r1-peers/models), THREADS (default 2),
#        REPS (default 3), ROUNDS (default 3: llama.cpp then r1, ROUNDS times per file, so the
#        minutes-long swings of this VM's memory bandwidth hit both; compare medians), DS_TYPES
#        (default "Q4_0 Q8_0"), R1_SHARED (default ../shared), ORACLE (llama.cpp C driver; default
#        $HOME/r1-peers/llamacpp/llama_oracle, built by ../shared/bench/llamacpp/build_oracle.sh
#        after `npm i -E node-llama-cpp@3.21.1` in $HOME/r1-peers/llamacpp, see ../shared/bench).
#
# Models: the R1-Distill-Qwen-1.5B shape is made by r1 itself (`r1 init-model` + `r1 convert`,
# with the real R1-Distill tokenizer so llama.cpp accepts the vocabulary); the DeepSeek-V2-Lite
# shape by ../shared/bench/gguf/make_deepseek2_lite.py (random quantized blocks, ~9 GB at Q4_0).
# The two engines alternate per file so slow drift of the machine affects both alike.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SHARED=${R1_SHARED:-$ROOT/../shared}
MODELS=${MODELS:-$HOME/r1-peers/models}
THREADS=${THREADS:-2}
REPS=${REPS:-3}
ROUNDS=${ROUNDS:-3}
ORACLE=${ORACLE:-$HOME/r1-peers/llamacpp/llama_oracle}
WHAT=${1:-all}
R1=$BUILD/r1
mkdir -p "$MODELS"
[ -x "$R1" ] || { echo "bench_peers: $R1 not built (run make build)"; exit 1; }
[ -x "$ORACLE" ] || { echo "bench_peers: llama.cpp driver $ORACLE missing (see ../shared/bench/README.md)"; exit 1; }

echo "== machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (must be near 0)"

peer() {  # file -> llama.cpp pp512/tg128 lines
  "$ORACLE" -m "$1" -t "$THREADS" --pp 512 --tg 128 --reps "$REPS" 2>/dev/null | grep -E '^(pp|tg)'
}
ours() {
  "$R1" bench "$1" -t "$THREADS" -r "$REPS" --bw-mib "${BW_MIB:-1024}"
}
peak_rss() {  # command... -> prints max RSS in MiB of the command (GNU time)
  /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1 | awk '{printf "%.0f MiB\n", $1 / 1024}'
}

if [ "$WHAT" = qwen ] || [ "$WHAT" = all ]; then
  q15=$MODELS/r1-q15
  if [ ! -f "$q15/model.safetensors" ]; then
    "$R1" init-model --preset r1-distill-qwen-1.5b --tokenizer "$SHARED/tokenizers/r1_distill_qwen" \
      --out "$q15" --threads "$THREADS"
  fi
  for t in q8_0 q4_0; do
    f=$MODELS/r1-q15-$t.gguf
    [ -f "$f" ] || "$R1" convert "$q15" --type "$t" --out "$f"
    echo "== R1-Distill-Qwen-1.5B shape, $t ($(du -h "$f" | cut -f1)), $THREADS threads"
    for round in $(seq "$ROUNDS"); do
      echo "-- round $round: llama.cpp (node-llama-cpp 3.21.1's libllama, C driver)"; peer "$f"
      echo "-- round $round: r1"; ours "$f"
    done
  done
fi

if [ "$WHAT" = ds ] || [ "$WHAT" = all ]; then
  for t in ${DS_TYPES:-Q4_0 Q8_0}; do
    l=${t,,}
    f=$MODELS/deepseek-v2-lite-random-$l.gguf
    [ -f "$f" ] || /usr/bin/python3 "$SHARED/bench/gguf/make_deepseek2_lite.py" --type "$t" \
      --tokenizer "$SHARED/tokenizers/deepseek_v3/tokenizer.json" -o "$f"
    echo "== DeepSeek-V2-Lite shape, $t ($(du -h "$f" | cut -f1)), $THREADS threads"
    for round in $(seq "$ROUNDS"); do
      echo "-- round $round: llama.cpp"; peer "$f"
      echo "-- round $round: r1"; ours "$f"
    done
    if command -v /usr/bin/time >/dev/null; then
      echo "-- peak RSS (pp512+tg128): llama.cpp $(peak_rss "$ORACLE" -m "$f" -t "$THREADS" --pp 512 --tg 128 --reps 1)," \
        "r1 $(peak_rss "$R1" bench "$f" -t "$THREADS" -r 1 --bw-mib 0)"
    fi
  done
fi
