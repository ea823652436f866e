#!/usr/bin/env bash
# Runs every libFuzzer harness (fuzz/*_fuzz.cpp, built in BUILD by R1_FUZZ=ON) for SECONDS each,
# one after the other. Corpus dirs, first one written: BUILD/fuzz-corpus/<harness>/ (kept between
# runs), fuzz/seeds/<harness>/, and links to the ../shared files listed below (when R1_SHARED
# exists). A crash, leak, sanitizer report, timeout or out-of-memory fails the run and prints the
# report; the reproducer is in BUILD/fuzz-artifacts/. Each harness's execution count is printed
# and appended to BUILD/fuzz-runs.tsv (date, harness, seconds, runs) for the 1M-execution tally.
# Usage: scripts/fuzz.sh BUILD SECONDS [HARNESS...]
# R1_FUZZ_ARGS adds libFuzzer flags to every run (e.g. -max_len=2048: the harnesses whose seeds are
# 8-220 KB run 4-10x as many, shorter, inputs); the flags are recorded in fuzz-runs.tsv.
set -euo pipefail
BUILD=$1 SECONDS_EACH=$2
shift 2
cd "$(dirname "$0")/.."
R1_SHARED=${R1_SHARED:-$(pwd)/../shared}

# ../shared files that seed each harness (globs under R1_SHARED). Left out, with the reason:
# tokenizers/*/tokenizer.json (7 MB each: one execution takes seconds under ASan, and libFuzzer
# truncates inputs past max_len), data/{math500,gsm8k,aime2024} (150-750 KB: the same; the
# 16 KB aime2025 file stands for them). schema, hf_tokenizer, safetensors_index and latex have
# no matching shared files.
shared_seeds() {
  case $1 in
    config_fuzz) echo "fixtures/*/config.json" ;;
    tokenizer_config_fuzz) echo "tokenizers/*/tokenizer_config.json" ;;
    jsonl_fuzz) echo "data/aime2025/*.jsonl tokenizers/cases-sample/*.jsonl" ;;
    gguf_fuzz | gguf_vocab_fuzz) echo "models/stories260K/*.gguf" ;;
    safetensors_fuzz) echo "fixtures/ds_noqlora_fp8/model.safetensors fixtures/llama_bf16/model.safetensors" ;;
    jinja_fuzz) echo "tokenizers/templates/*.jinja" ;;
    tokenizer_fuzz) echo "tokenizers/cases-sample/*.jsonl" ;;
  esac
}

if [ $# -eq 0 ]; then
  set -- $(for f in fuzz/*_fuzz.cpp; do basename "$f" .cpp; done)
fi
mkdir -p "$BUILD/fuzz-artifacts"
# Allocation-heavy harnesses (a tokenizer loaded per input) spend most of their time filling new
# blocks and faulting in fresh pages behind the 256 MB quarantine: without the fill and with a
# 32 MB quarantine they run 1.5x as many inputs; out-of-bounds and use-after-free still abort.
export ASAN_OPTIONS=${ASAN_OPTIONS:-max_malloc_fill_size=0:quarantine_size_mb=32}
for n in "$@"; do
  corpus="$BUILD/fuzz-corpus/$n"
  mkdir -p "$corpus"
  dirs=("$corpus")
  [ -d "fuzz/seeds/$n" ] && dirs+=("fuzz/seeds/$n")  # libFuzzer exits on a missing corpus dir
  max_len=()
  if [ -d "$R1_SHARED" ] && [ -n "$(shared_seeds "$n")" ]; then
    links="$BUILD/fuzz-shared/$n"
    rm -rf "$links" && mkdir -p "$links"
    for pattern in $(shared_seeds "$n"); do
      for f in "$R1_SHARED"/$pattern; do
        [ -f "$f" ] || continue
        rel=${f#"$R1_SHARED"/}
        ln -s "$f" "$links/${rel//\//__}"
        # libFuzzer caps inputs at 1 MB unless told: let the 1.2 MB stories260K GGUF in whole.
        if [ "$(stat -c %s "$f")" -gt 1048576 ]; then max_len=(-max_len=1300000); fi
      done
    done
    dirs+=("$links")
  fi
  log="$BUILD/fuzz-$n.log"
  if ! "$BUILD/$n" -max_total_time="$SECONDS_EACH" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
       "${max_len[@]}" ${R1_FUZZ_ARGS:-} -artifact_prefix="$BUILD/fuzz-artifacts/$n-" "${dirs[@]}" >"$log" 2>&1; then
    tail -n 80 "$log"
    echo "fuzz.sh: $n found a failure (reproducer: $BUILD/fuzz-artifacts/$n-*; rerun: $BUILD/$n FILE)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  printf '%-24s %9s runs in %ss, corpus %s files\n' "$n" "${runs:-?}" "$SECONDS_EACH" "$(ls "$corpus" | wc -l)"
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$n" "$SECONDS_EACH" "${runs:-0}" "${R1_FUZZ_ARGS:-}" >>"$BUILD/fuzz-runs.tsv"
done
