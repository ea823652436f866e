// GRPO training (DeepSeekMath §4; DeepSeek-R1 §2.2) over a TrainLM: sample a group of G
// completions per prompt with the current policy (engine::Scheduler: batched decoding on the KV
// cache), score them with weighted rule-based rewards, compute group-relative
// advantages and take num_iterations AdamW steps on the clipped surrogate minus beta * k3 KL to a
// frozen reference (grpo_math.h). The prompt source and the reward functions are callbacks, so
// this library stays below rewards/ and task/ (the CLI wires them: src/cli/cmd_grpo.cpp).
#pragma once
#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/thread_pool.h"
#include "models/model.h"
#include "train/grpo_math.h"
#include "tokenizer/tokenizer.h"
#include "train/lm.h"

namespace r1::train {

/// The policy: a TrainLM's own model, sampled from (model()) and trained (backward_logprobs) with
/// the same weights, so an optimizer step is seen by the next rollout. Any trainable architecture.
class GrpoPolicy {
 public:
  explicit GrpoPolicy(TrainLM& lm) : lm_(lm) {}
  models::CausalLM& model() { return lm_.model(); }
  TrainLM& lm() { return lm_; }
  /// Per-token log-probs (at `temperature`) of tokens[P..T-1] given tokens[0..P-1], no tape:
  /// returns T - P values. Also the per-token entropies when `entropy` is non-null.
  std::vector<double> completion_logprobs(std::span<const int32_t> tokens, int64_t P,
                                          double temperature, std::vector<double>* entropy = nullptr);
  /// Training pass over one sequence: adds d(sum_t coef[t] * logp_t)/d(params) to the grads,
  /// where logp_t is the log-prob of tokens[P + t]; coef_fn(t, logp_t) returns coef[t] (it sees
  /// the fresh log-prob first, as the clipped objective needs). Returns the log-probs.
  std::vector<double> backward_logprobs(std::span<const int32_t> tokens, int64_t P,
                                        double temperature,
                                        const std::function<double(int64_t, double)>& coef_fn,
                                        std::vector<double>* entropy = nullptr);

 private:
  TrainLM& lm_;
};

/// One completion sampled for a prompt.
struct Sample {
  std::vector<int32_t> tokens;     // completion ids (including the EOS when it stopped)
  std::vector<double> logprobs;    // sampling-time log-prob of each token (temperature applied)
  bool truncated = false;          // hit max_new without an EOS
  double entropy_sum = 0;          // sum over tokens of the sampling distribution's entropy (nats)
};

/// Samples `prompts.size()` completions through the engine's scheduler (continuous batching: one
/// forward_batch per decode step over all unfinished rows) with plain softmax(logits / T)
/// sampling, `temperature` > 0, until an EOS in `eos`, max_new tokens or the model's context.
/// rng_seeds[i] seeds row i's sampler (engine::Rng), so results do not depend on batch
/// composition. `tok` decodes the stream (text is not returned). Errors (R1_CHECK): an empty or
/// out-of-vocabulary prompt, non-finite logits.
std::vector<Sample> sample_batch(models::CausalLM& lm, const tok::Tokenizer& tok,
                                 std::span<const std::vector<int32_t>> prompts,
                                 std::span<const int32_t> eos, int64_t max_new, double temperature,
                                 std::span<const uint64_t> rng_seeds);

/// A prompt for RL: its text and the gold answer the rewards check against.
struct GrpoPrompt {
  std::string prompt;
  std::string gold;
};

/// A named reward with its weight in the total (reward = sum_k weight_k * fn_k).
struct GrpoReward {
  std::string name;
  double weight = 1.0;
  std::function<float(std::string_view prompt, std::string_view completion, std::string_view gold)> fn;
};

struct GrpoOptions {
  std::string model;         // base HF dir (policy init and, when beta > 0, the reference)
  std::string out;           // metrics.jsonl, checkpoint-STEP/, charts
  bool resume = false;
  int64_t steps = 100;
  uint64_t seed = 0;
  int64_t prompts_per_step = 16;
  int64_t num_generations = 8;       // G
  double beta = 0.0;                 // KL coefficient (0: no reference model)
  double epsilon = 0.2, epsilon_high = 0.2;
  std::string loss_type = "bnpo";
  bool scale_rewards = true;
  double adv_eps = 1e-4;
  int64_t num_iterations = 1;        // mu
  int64_t max_completion_length = 64;
  double temperature = 1.0;
  double learning_rate = 1e-5;
  double weight_decay = 0.0, clip = 1.0, beta1 = 0.9, beta2 = 0.99;
  int64_t warmup = 0;
  bool dynamic_sampling = false;     // DAPO: replace zero-variance groups by fresh prompts
  int64_t max_resample_rounds = 3;
  bool mask_truncated = false;       // TRL mask_truncated_completions: no loss on cut-off rows
  int64_t overlong_buffer = 0;       // DAPO soft overlong penalty length (0: off)
  double overlong_penalty_factor = 1.0;
  double time_budget = 0;            // seconds; 0: none
  int64_t save_every = 50;
  int keep_last = 2;
  bool quiet = false;
};

/// Runs GRPO (see file comment): prompts come from prompt_at(i) for i = 0, 1, ... (deterministic,
/// so a resumed run continues the same stream), rewards from `rewards`. Per step one line of
/// OUT/metrics.jsonl (step, reward, reward/NAME, accuracy (mean of the "accuracy" reward when one
/// is named so), completion_len, kl, clip_frac, entropy, zero_std_groups, tokens_per_s
/// (completion tokens over the wall clock since the run started, checkpoints included),
/// gen_tokens_per_s and train_tokens_per_s (each phase's own time), lr, step_s, elapsed_s) and a
/// progress line with the wall-clock rate and ETA to `progress`. Checkpoints as
/// `r1 pretrain` (HF dirs `r1 run` loads). Errors: unreadable model/tokenizer, bad options.
Result<void> run_grpo(const GrpoOptions& o, const std::function<GrpoPrompt(int64_t)>& prompt_at,
                      const std::vector<GrpoReward>& rewards, ThreadPool& pool,
                      std::FILE* progress);

}  // namespace r1::train
