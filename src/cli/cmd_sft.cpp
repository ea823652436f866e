// `r1 sft --model M --data traces.jsonl --out DIR`: supervised fine-tuning on (prompt,
// completion) pairs or chat `messages`, loss on completion tokens only (prompt masked), whole
// examples packed into sequences, EOS after each completion; AdamW + warmup/cosine, atomic
// checkpoints (HF dirs `r1 run` loads), DIR/metrics.jsonl, --resume. Loop: train/sft.h.
#include <cblas.h>

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/sft_options.h"
#include "train/sft.h"

namespace r1::cli {

void add_sft_options(CLI::App& app, train::SftOptions& o, SftFormatFlags& f) {
  app.add_option("--steps", o.steps, "optimizer steps (0: from --epochs)")->capture_default_str();
  app.add_option("--epochs", o.epochs, "passes over the packed data when --steps is 0 (default 1)")
      ->capture_default_str();
  app.add_option("--seed", o.seed, "seed (example and row order)")->capture_default_str();
  app.add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  app.add_option("--min-lr", o.min_lr, "final learning rate of the cosine")->capture_default_str();
  app.add_option("--warmup", o.warmup, "linear warmup steps")->capture_default_str();
  app.add_option("--batch", o.batch, "packed sequences per micro-batch")->capture_default_str();
  app.add_option("--seq-len", o.seq_len, "tokens per packed sequence")->capture_default_str();
  app.add_option("--accum", o.accum, "micro-batches per optimizer step")->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "AdamW decoupled weight decay (matrices)")
      ->capture_default_str();
  app.add_option("--beta1", o.beta1, "AdamW beta1")->capture_default_str();
  app.add_option("--beta2", o.beta2, "AdamW beta2")->capture_default_str();
  app.add_option("--clip", o.clip, "clip gradients to this global L2 norm (0: off)")
      ->capture_default_str();
  app.add_option("--save-every", o.save_every, "checkpoint every N steps (and at the end)")
      ->capture_default_str();
  app.add_option("--keep-last", o.keep_last, "checkpoints kept")->capture_default_str();
  app.add_flag("--chat", f.chat, "render prompt/completion rows through the model's chat template");
  app.add_flag("--raw", f.raw, "prompt text then completion text (no chat template)");
}

int sft_format(const SftFormatFlags& f, train::SftOptions& o, const char* cmd) {
  if (f.chat && f.raw) {
    std::fprintf(stderr, "r1 %s: give at most one of --chat and --raw\n", cmd);
    return 2;
  }
  o.format = f.chat ? train::SftFormat::Chat : f.raw ? train::SftFormat::Raw : train::SftFormat::Auto;
  return -1;
}

int cmd_sft(int argc, char** argv) {
  CLI::App app{"Supervised fine-tuning on (prompt, completion) pairs: loss on completion tokens "
               "only, whole examples packed, EOS after each completion.", "r1 sft"};
  train::SftOptions o;
  SftFormatFlags f;
  int threads = default_threads();
  app.add_option("--model", o.model, "HF model directory to fine-tune (with tokenizer.json)")
      ->required();
  app.add_option("--data", o.data,
                 "JSONL: {\"prompt\", \"completion\"} or {\"messages\": [...]} per line")
      ->required();
  app.add_option("--out", o.out, "output folder (metrics.jsonl, checkpoint-STEP/)")->required();
  app.add_flag("--resume", o.resume, "continue from the newest checkpoint in --out");
  add_sft_options(app, o, f);
  app.add_option("-t,--threads", threads, "threads (default: physical cores)");
  app.add_flag("-q,--quiet", o.quiet, "no progress lines");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (int rc = sft_format(f, o, "sft"); rc >= 0) return rc;
  const int n = threads > 0 ? threads : default_threads();
  openblas_set_num_threads(n);
  ThreadPool pool(n);
  auto r = train::run_sft(o, pool, stdout);
  if (!r.ok()) {
    std::fprintf(stderr, "r1 sft: %s\n", r.message().c_str());
    return 1;
  }
  std::printf("sft: loss %.4f -> %.4f over %lld steps; model: %s\n", r->first_loss, r->last_loss,
              (long long)r->steps, r->checkpoint.c_str());
  return 0;
}

}  // namespace r1::cli
