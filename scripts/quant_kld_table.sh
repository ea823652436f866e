#!/usr/bin/env bash
# Every quantisation type against the f16 model (issue 15): file size, PPL, mean / 99th-percentile
# KL divergence, top-token agreement and r1's scoring throughput, as a Markdown table, through
# `r1 perplexity --save-logits` / `--kl-divergence-base`. Files are quantised by llama.cpp's own
# quantizer (llama_quantize, ../shared/bench/llamacpp/build_oracle.sh) from an F32 source.
# Not part of `make test` (minutes: one quantisation and one scoring pass per type).
#
# Usage: scripts/quant_kld_table.sh [SRC.gguf]
#   SRC: an F32 GGUF. Default: a random-weight qwen2 at 2 layers x 256 wide (the shape of
#   tests/quant_ref_cli_test.cpp, --fanin --out-gain 4 so the logits are peaked, real
#   R1-Distill-Qwen vocabulary), made by ../shared/bench/gguf/make_qwen2_random.py (python3-numpy).
#   ../shared/models/stories260K/stories260K.gguf is the trained alternative (its rows of 64 are
#   not whole 256-blocks, so llama.cpp falls back to Q5_0/Q5_1/IQ4_NL/Q8_0 for the K/IQ types).
# Env: BUILD (default build), OUT (work folder, default $HOME/r1-peers/models/kld), DATA (text,
#      default ../shared/DESIGN.md), CTX (default 128), THREADS (default 2), TYPES (llama.cpp file
#      types, default all below), QUANTIZE (default $HOME/r1-peers/llamacpp/llama_quantize).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$ROOT/build}
SHARED=${R1_SHARED:-$ROOT/../shared}
OUT=${OUT:-$HOME/r1-peers/models/kld}
DATA=${DATA:-$SHARED/DESIGN.md}
CTX=${CTX:-128}
THREADS=${THREADS:-2}
QUANTIZE=${QUANTIZE:-$HOME/r1-peers/llamacpp/llama_quantize}
TYPES=${TYPES:-"Q8_0 Q6_K Q5_K_M Q5_K_S Q5_1 Q5_0 Q4_K_M Q4_K_S Q4_1 Q4_0 IQ4_XS IQ4_NL Q3_K_L Q3_K_M Q3_K_S IQ3_M IQ3_S IQ3_XS IQ3_XXS Q2_K Q2_K_S IQ2_M IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S TQ2_0 TQ1_0"}
R1=$BUILD/r1
[ -x "$R1" ] || { echo "quant_kld_table: $R1 not built" >&2; exit 1; }
[ -x "$QUANTIZE" ] || { echo "quant_kld_table: $QUANTIZE missing (see ../shared/bench/README.md)" >&2; exit 1; }
mkdir -p "$OUT"

SRC=${1:-}
if [ -z "$SRC" ]; then
  SRC=$OUT/qwen2-tiny-f32.gguf
  if [ ! -f "$SRC" ]; then
    /usr/bin/python3 "$SHARED/bench/gguf/make_qwen2_random.py" \
      --tokenizer "$SHARED/tokenizers/r1_distill_qwen/tokenizer.json" --type F32 --layers 2 \
      --hidden 256 --ffn 512 --heads 4 --kv-heads 2 --fanin --out-gain 4 -o "$SRC.tmp" >/dev/null
    mv "$SRC.tmp" "$SRC"
  fi
fi
name=$(basename "$SRC" .gguf)
quant() {  # TYPE -> path of SRC quantised to TYPE (made once)
  local q=$OUT/$name-$1.gguf extra=""
  # llama.cpp refuses these without an importance matrix (tensor_requires_imatrix in
  # src/llama-quant.cpp: IQ1_*, IQ2_XXS/XS/S, IQ3_XXS tensors, and Q2_K inside Q2_K_S); they get a
  # uniform one here, so their KLD is worse than with a real imatrix.
  case $1 in IQ1_*|IQ2_*|IQ3_XXS|IQ3_XS|Q2_K_S) extra=--imatrix-ones ;; esac
  [ -f "$q" ] || { "$QUANTIZE" "$SRC" "$q.tmp" "$1" $extra -t "$THREADS" >/dev/null 2>&1 && mv "$q.tmp" "$q"; } ||
    { rm -f "$q.tmp"; return 1; }
  echo "$q"
}
base=$(quant F16)
"$R1" perplexity "$base" --data "$DATA" --ctx "$CTX" --threads "$THREADS" \
  --save-logits "$OUT/$name-f16.lp" 2>/dev/null | sed 's/^/F16 base: /' >&2

echo "$name, $(basename "$DATA"), --ctx $CTX, KLD against F16 (llama_quantize from F32, its default per-tensor presets; IQ1/IQ2/IQ3_XXS/IQ3_XS/Q2_K_S with a uniform imatrix)"
echo
echo "| type | file MiB | PPL | mean KLD | 99% KLD | same top p | r1 tok/s |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for t in F16 $TYPES; do
  q=$(quant "$t") || { echo "| $t | (llama_quantize failed) | | | | | |"; continue; }
  res=$("$R1" perplexity "$q" --kl-divergence-base "$OUT/$name-f16.lp" --threads "$THREADS" 2>&1) ||
    { echo "| $t | r1 failed: $(echo "$res" | tail -1) | | | | | |"; continue; }
  mib=$(awk -v b="$(stat -c %s "$q")" 'BEGIN{printf "%.2f", b/1048576}')
  # "Label : value ± uncertainty" lines of the summary (± is two bytes: split on it as a string).
  val() { echo "$res" | grep -m1 "^$1" | sed 's/^[^:]*: *//; s/ *±.*//; s/ *%$//'; }
  unc() { echo "$res" | grep -m1 "^$1" | sed 's/.*± *//; s/ *%$//'; }
  ppl=$(printf "%.3f" "$(val 'Mean PPL(Q) ')")
  kld="$(printf "%.5f" "$(val 'Mean    KLD:')") ± $(printf "%.5f" "$(unc 'Mean    KLD:')")"
  k99=$(printf "%.4f" "$(val '99.0%   KLD:')")
  top="$(printf "%.2f" "$(val 'Same top p:')") %"
  tps=$(echo "$res" | awk '/tokens in .* tokens\/s/{gsub(/\(/,"",$(NF-1)); print $(NF-1)}')
  echo "| $t | $mib | $ppl | $kld | $k99 | $top | $tps |"
done
