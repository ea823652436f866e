#!/usr/bin/env bash
# The R1-Zero experiment of issue 7, end to end with r1 subcommands only:
#   base corpus -> pretrain a 0.23M Qwen2-architecture base to its plateau -> GRPO for a time budget,
#   and the control: the same base given the same wall-clock time of further pretraining.
# Evaluates base, GRPO and control on held-out problems (R1 protocol: k samples at T=0.6, top-p 0.95)
# and prints the table. Not part of `make test` (minutes of CPU; run on an idle machine).
#
# Usage: scripts/grpo_experiment.sh [OUT]     (default OUT=grpo-exp)
# Env: BUILD (default build), THREADS (2), LEVEL (1), BASE_STEPS (6000), GRPO_SECONDS (180),
#      EVAL_N (200), EVAL_K (8)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R1=${BUILD:-$ROOT/build}/r1
OUT=${1:-grpo-exp}
T=${THREADS:-2}
LEVEL=${LEVEL:-1}
BASE_STEPS=${BASE_STEPS:-6000}
GRPO_SECONDS=${GRPO_SECONDS:-180}
EVAL_N=${EVAL_N:-200}
EVAL_K=${EVAL_K:-8}
[ -x "$R1" ] || { echo "grpo_experiment: $R1 not built (make build)"; exit 1; }
mkdir -p "$OUT"
cd "$OUT"
echo "== load average $(cut -d' ' -f1-3 /proc/loadavg); $T threads; level $LEVEL"

# 1. Base corpus and a byte-level vocabulary (EOS + 256 bytes, no merges; <think> tags are plain
#    text, so pretraining, sampling and SFT all see the same ids).
[ -f corpus.jsonl ] || "$R1" task corpus --name arith --level "$LEVEL" --n 60000 --seed 1 --out corpus.jsonl
mkdir -p tok
[ -f tok/tokenizer.json ] || "$R1" tokenizer train --data corpus.jsonl --vocab-size 257 --out tok/tokenizer.json \
  --special '<|eos|>' --eos '<|eos|>'
cat > config.json <<'EOF'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 257, "hidden_size": 96,
 "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 256, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "hidden_act": "silu",
 "tie_word_embeddings": true, "eos_token_id": 0, "torch_dtype": "float32"}
EOF
newest() { ls -d "$1"/checkpoint-* | sort -t- -k2 -n | tail -n 1; }

# 2. Base: pretraining to the plateau (AdamW 3e-3 -> 3e-4 cosine, 16 x 64 tokens per step).
s0=$(date +%s)
"$R1" pretrain --model-config config.json --tokenizer tok --data corpus.jsonl --out base --steps "$BASE_STEPS" \
  --lr 3e-3 --min-lr 3e-4 --warmup 50 --batch 16 --seq-len 64 --save-every "$BASE_STEPS" --val-every 0 \
  --keep-last 1 -t "$T" -q --resume
BASE=$(newest base)
echo "base: $BASE ($(( $(date +%s) - s0 )) s)"

# 3. R1-Zero: GRPO from the base, accuracy + format rewards, no KL, DAPO clip-higher, token-level loss.
s0=$(date +%s)
"$R1" grpo --model "$BASE" --task arith --level "$LEVEL" --out grpo --steps 100000 --prompts-per-step 16 \
  --num_generations 8 --max_completion_length 96 --temperature 1.0 --learning_rate 1e-4 --beta 0 \
  --epsilon 0.2 --epsilon_high 0.28 --loss_type dapo --reward-funcs accuracy,format --reward-weights 1,0.2 \
  --time-budget "$GRPO_SECONDS" --save-every 100000 --keep-last 1 -t "$T" > grpo.log 2>&1
GRPO_S=$(( $(date +%s) - s0 ))
echo "grpo: $(newest grpo) ($GRPO_S s; charts in $OUT/grpo/charts)"

# 4. Control: the base pretrained further for GRPO's wall time (steps from the base's measured speed).
# tokens_per_s is wall-clock since the run started (checkpoints included): the last line's value.
TPS=$(grep -o '"tokens_per_s":[0-9.e+]*' base/metrics.jsonl | tail -n 1 | cut -d: -f2 |
      awk '{printf "%.0f", $1}')
CTL_STEPS=$(( GRPO_S * TPS / 1024 ))
"$R1" pretrain --init-from "$BASE" --tokenizer tok --data corpus.jsonl --out control --steps "$CTL_STEPS" \
  --lr 1e-3 --min-lr 3e-4 --warmup 1 --batch 16 --seq-len 64 --save-every "$CTL_STEPS" --val-every 0 \
  --keep-last 1 --seed 5 -t "$T" -q --resume
echo "control: $(newest control) ($CTL_STEPS steps at the base's $TPS tokens/s)"

# 5. Held-out evaluation, R1 protocol.
printf '\n%-8s %8s %8s %8s %10s %7s\n' model pass@1 cons@k pass@k mean_len think
for m in base:"$BASE" grpo:"$(newest grpo)" control:"$(newest control)"; do
  name=${m%%:*} dir=${m#*:}
  "$R1" eval --model "$dir" --task arith --level "$LEVEL" --n "$EVAL_N" -k "$EVAL_K" --temp 0.6 --top-p 0.95 \
    --max-tokens 96 --seed 7 -t "$T" --out "eval-$name" > /dev/null 2>&1
  grep -o '"\(pass@1\|cons@k\|pass@k\|mean_completion_tokens\|think_share\)": *[0-9.e-]*' "eval-$name/results.json" |
    awk -v n="$name" -F': *' '{v[$1]=$2} END {printf "%-8s %8.3f %8.3f %8.3f %10.1f %7.2f\n", n,
      v["\"pass@1\""], v["\"cons@k\""], v["\"pass@k\""], v["\"mean_completion_tokens\""], v["\"think_share\""]}'
done
