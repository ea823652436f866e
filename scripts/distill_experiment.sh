#!/usr/bin/env bash
# The distillation experiment of issue 8 (R1 paper, section 4.1: distilling a strong reasoner beats
# RL on the small model), with r1 subcommands only. Needs the GRPO-trained teacher, corpus and
# tokenizer of scripts/grpo_experiment.sh (run it first with the same OUT).
#   student base: a smaller Qwen2 (hidden 64, 2 layers, 0.11M) pretrained on the base corpus;
#   distilled:    the student base fine-tuned on the teacher's verified traces (r1 distill);
#   control:      the student base given the distillation's wall time as GRPO (same recipe as R1-Zero).
# Evaluates all (and the teacher) with k=16 samples at T=0.6, top-p 0.95; prints the table.
#
# Usage: scripts/distill_experiment.sh [OUT]   (default OUT=grpo-exp)
# Env: BUILD (default build), THREADS (2), LEVEL (1), STUDENT_STEPS (3000), EVAL_N (200), EVAL_K (16)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
R1=${BUILD:-$ROOT/build}/r1
OUT=${1:-grpo-exp}
T=${THREADS:-2}
LEVEL=${LEVEL:-1}
STUDENT_STEPS=${STUDENT_STEPS:-3000}
EVAL_N=${EVAL_N:-200}
EVAL_K=${EVAL_K:-16}
cd "$OUT"
newest() { ls -d "$1"/checkpoint-* | sort -t- -k2 -n | tail -n 1; }
[ -d grpo ] || { echo "distill_experiment: run scripts/grpo_experiment.sh $OUT first"; exit 1; }
TEACHER=$(newest grpo)
echo "== load average $(cut -d' ' -f1-3 /proc/loadavg); teacher $TEACHER; $T threads"

cat > student_config.json <<'EOF'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 257, "hidden_size": 64,
 "intermediate_size": 192, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
 "max_position_embeddings": 256, "rope_theta": 10000.0, "rms_norm_eps": 1e-6, "hidden_act": "silu",
 "tie_word_embeddings": true, "eos_token_id": 0, "torch_dtype": "float32"}
EOF
"$R1" pretrain --model-config student_config.json --tokenizer tok --data corpus.jsonl --out student-base \
  --steps "$STUDENT_STEPS" --lr 3e-3 --min-lr 3e-4 --warmup 50 --batch 16 --seq-len 64 \
  --save-every "$STUDENT_STEPS" --val-every 0 --keep-last 1 -t "$T" -q --resume
SB=$(newest student-base)

# Distillation: the teacher samples 4 completions for 800 train prompts at T=0.6; correct,
# well-formed, distinct ones are kept; then SFT of the student base on them.
s0=$(date +%s)
"$R1" distill --teacher "$TEACHER" --student "$SB" --task arith --level "$LEVEL" --n 800 -k 4 --temp 0.6 \
  --max-tokens 96 --out distill --steps 300 --lr 1e-3 --min-lr 1e-4 --warmup 5 --batch 16 --seq-len 128 \
  --save-every 300 --keep-last 1 --raw -t "$T" -q
DIST_S=$(( $(date +%s) - s0 ))
echo "distill: $(cat distill/distill_stats.json) ($DIST_S s)"

# Control: GRPO on the student base for the same wall time.
"$R1" grpo --model "$SB" --task arith --level "$LEVEL" --out student-grpo --steps 100000 --prompts-per-step 16 \
  --num_generations 8 --max_completion_length 96 --temperature 1.0 --learning_rate 1e-4 --beta 0 \
  --epsilon 0.2 --epsilon_high 0.28 --loss_type dapo --reward-funcs accuracy,format --reward-weights 1,0.2 \
  --time-budget "$DIST_S" --save-every 100000 --keep-last 1 -t "$T" > student-grpo.log 2>&1

printf '\n%-14s %8s %8s %8s %10s\n' model pass@1 cons@k pass@k mean_len
for m in teacher:"$TEACHER" student-base:"$SB" distilled:"$(newest distill/student)" \
         student-grpo:"$(newest student-grpo)"; do
  name=${m%%:*} dir=${m#*:}
  "$R1" eval --model "$dir" --task arith --level "$LEVEL" --n "$EVAL_N" -k "$EVAL_K" --temp 0.6 --top-p 0.95 \
    --max-tokens 96 --seed 7 -t "$T" --out "eval16-$name" > /dev/null 2>&1
  grep -o '"\(pass@1\|cons@k\|pass@k\|mean_completion_tokens\)": *[0-9.e-]*' "eval16-$name/results.json" |
    awk -v n="$name" -F': *' '{v[$1]=$2} END {printf "%-14s %8.3f %8.3f %8.3f %10.1f\n", n,
      v["\"pass@1\""], v["\"cons@k\""], v["\"pass@k\""], v["\"mean_completion_tokens\""]}'
done
