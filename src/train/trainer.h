// The pretraining loop behind `r1 pretrain`: data, model (new, --init-from or resumed), AdamW
// with warmup + cosine schedule, gradient accumulation, global-norm clipping, per-step metrics
// (OUT/metrics.jsonl) and atomic checkpoints. Deterministic: with the same options and thread
// count, a run resumed from any checkpoint reproduces the uninterrupted loss sequence exactly.
#pragma once
#include <cstdint>
#include <cstdio>
#include <string>

#include "core/result.h"
#include "core/thread_pool.h"

namespace r1::train {

struct PretrainOptions {
  std::string model_config;  // HF config.json of the architecture (new model, init in OUT/init)
  std::string tokenizer;     // tokenizer.json or a folder holding one
  std::string data;          // corpus: .jsonl ({"text": ...} per line) or plain text
  std::string out;           // output folder: metrics.jsonl, checkpoint-STEP/
  std::string init_from;     // start from this HF model dir instead of random weights
  bool resume = false;       // continue from the newest checkpoint in `out` if any
  int64_t steps = 100;       // optimizer steps
  int64_t batch = 8;         // sequences per micro-batch
  int64_t accum = 1;         // micro-batches per optimizer step
  int64_t seq_len = 256;
  double lr = 3e-4, min_lr = 3e-5;
  int64_t warmup = 10;
  double weight_decay = 0.1, clip = 1.0, beta1 = 0.9, beta2 = 0.95;
  int64_t save_every = 100;  // also saved at the last step
  int keep_last = 2;
  uint64_t seed = 0;
  int64_t val_windows = 4;   // held-out windows (the corpus's last ones) for validation loss
  int64_t val_every = 50;    // validation every N steps and at the last step (0: never)
  double mtp_weight = 0.0;        // DeepSeek-V3 with an MTP module: loss + mtp_weight * MTP loss
  double router_bias_rate = 1e-3;  // DeepSeek-V3 aux-loss-free bias update speed (gamma)
  bool quiet = false;        // no progress lines
};

/// Runs the loop (see file comment). Progress lines go to `progress` (one per step):
/// "step 3/100 loss 7.1234 lr 1.20e-04 | 1234 tok/s | ETA 1m05s". The rate (also metrics
/// tokens_per_s, with elapsed_s) and the ETA are wall-clock since this process started training,
/// checkpoints and validation included (ProgressMeter).
/// Errors: unreadable inputs, bad config, corpus shorter than seq_len + 1, I/O failures.
Result<void> run_pretrain(const PretrainOptions& o, ThreadPool& pool, std::FILE* progress);

}  // namespace r1::train
