#!/usr/bin/env bash
# make demo: the DeepSeek-R1 recipe end to end at toy scale (`r1 zero`, default profile): base
# corpus + tokenizer, a DeepSeek-V3-architecture base, R1-Zero by GRPO, distillation into a small
# Qwen2 student, the two controls, evaluation table, RL charts, HF + GGUF models. Nothing is
# downloaded. Ctrl-C and `make demo` again resumes from the last finished stage.
# Extra arguments go to `r1 zero` (e.g. `bash scripts/demo.sh build --quick --out /tmp/z`).
set -euo pipefail
BUILD=${1:-build}
shift || true
exec "$BUILD/r1" zero "$@"
