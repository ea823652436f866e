// `r1 pretrain --model-config CONFIG --tokenizer TOKENIZER --data CORPUS --out DIR`: trains a
// model of any trainable architecture (models/registry.h) from scratch (random init written to
// DIR/init) or --init-from a checkpoint, on a text or JSONL corpus; progress line per step,
// DIR/metrics.jsonl, DIR/checkpoint-STEP/ (HF dirs `r1 run` loads). --resume continues
// bit-for-bit from the newest checkpoint. Loop: train/trainer.h.
#include <cblas.h>

#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "models/registry.h"
#include "train/trainer.h"

namespace r1::cli {

int cmd_pretrain(int argc, char** argv) {
  CLI::App app{"Pretrains a causal LM (next-token cross-entropy, AdamW, warmup + cosine LR) on a "
               "corpus packed into sequences with EOS between documents.", "r1 pretrain"};
  train::PretrainOptions o;
  int threads = default_threads();
  const std::string config_help =
      "HF config.json of a new model (" + models::trainable_arch_names() + ")";
  app.add_option("--model-config", o.model_config, config_help);
  app.add_option("--tokenizer", o.tokenizer, "tokenizer.json (or a folder with one)")->required();
  app.add_option("--data", o.data, "corpus: .jsonl with {\"text\": ...} per line, or plain text")
      ->required();
  app.add_option("--out", o.out, "output folder (metrics.jsonl, checkpoint-STEP/)")->required();
  app.add_option("--init-from", o.init_from, "start from this HF model directory");
  app.add_flag("--resume", o.resume, "continue from the newest checkpoint in --out");
  app.add_option("--steps", o.steps, "optimizer steps")->capture_default_str();
  app.add_option("--seed", o.seed, "seed (weights and data order)")->capture_default_str();
  app.add_option("--lr", o.lr, "peak learning rate")->capture_default_str();
  app.add_option("--min-lr", o.min_lr, "final learning rate of the cosine")->capture_default_str();
  app.add_option("--warmup", o.warmup, "linear warmup steps")->capture_default_str();
  app.add_option("--batch", o.batch, "sequences per micro-batch")->capture_default_str();
  app.add_option("--seq-len", o.seq_len, "tokens per sequence")->capture_default_str();
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
  app.add_option("--val-every", o.val_every, "validation loss every N steps (0: off)")
      ->capture_default_str();
  app.add_option("--val-windows", o.val_windows, "held-out sequences (last of the corpus)")
      ->capture_default_str();
  app.add_option("--mtp-weight", o.mtp_weight, "DeepSeek-V3: weight of the MTP loss (0: off)")
      ->capture_default_str();
  app.add_option("--router-bias-rate", o.router_bias_rate,
                 "DeepSeek-V3: aux-loss-free expert bias update per step")
      ->capture_default_str();
  app.add_option("-t,--threads", threads, "threads (default: physical cores)");
  app.add_flag("-q,--quiet", o.quiet, "no progress lines");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (o.model_config.empty() && o.init_from.empty() && !o.resume) {
    std::fprintf(stderr, "r1 pretrain: give --model-config CONFIG or --init-from MODEL\n");
    return 2;
  }
  const int n = threads > 0 ? threads : default_threads();
  openblas_set_num_threads(n);
  ThreadPool pool(n);
  auto r = train::run_pretrain(o, pool, stdout);
  if (!r.ok()) {
    std::fprintf(stderr, "r1 pretrain: %s\n", r.message().c_str());
    return 1;
  }
  return 0;
}

}  // namespace r1::cli
