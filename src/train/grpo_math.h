// The arithmetic of GRPO (Shao et al. 2024, DeepSeekMath §4.1; DeepSeek-R1 §2.2.1) and its
// variants as Hugging Face TRL's GRPOTrainer computes them: group-relative advantages (with or
// without std scaling, Dr. GRPO: Liu et al. 2025), the per-token clipped surrogate with DAPO's
// asymmetric clip-higher (Yu et al. 2025), the k3 KL estimator (Schulman 2020, "Approximating KL
// divergence"), the loss aggregations ("grpo", "bnpo"/"dapo", "dr_grpo") and DAPO's soft overlong
// penalty. Pure functions of their inputs, so the tests check them against hand-computed values.
#pragma once
#include <cmath>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/result.h"

namespace r1::train::grpo {

/// Advantages of rewards [n_groups * G] laid out group by group: A = r - mean(group), divided by
/// (std(group) + eps) when scale_rewards (std is the UNBIASED sample std, as torch.std in TRL;
/// 0 for G == 1). *zero_std_groups (optional) gets the number of groups whose rewards are all
/// equal (|std| < 1e-12): their advantages are exactly 0 and they carry no policy-gradient signal.
std::vector<float> group_advantages(std::span<const float> rewards, int64_t G, bool scale_rewards,
                                    double eps, int64_t* zero_std_groups);

/// Per-group flag: true when the group's rewards have zero variance (see group_advantages).
std::vector<bool> zero_std_flags(std::span<const float> rewards, int64_t G);

/// k3 estimator of KL(pi || ref) per token: exp(ref - logp) - (ref - logp) - 1 (>= 0, unbiased).
inline double k3(double logp, double ref_logp);

/// One token of the GRPO objective. Inputs: the policy's log-prob `logp` of the sampled token,
/// the old policy's `old_logp` (sampling time), the reference's `ref_logp` (ignored when beta 0),
/// the sequence's advantage. Output: the per-token loss
///   l = -min(r A, clip(r, 1 - eps_low, 1 + eps_high) A) + beta * k3,   r = exp(logp - old_logp),
/// dl/dlogp (the gradient flows through r only where the unclipped term is the min, as torch.min
/// routes it), and whether the token counts as clipped (TRL: r < 1 - eps_low with A < 0, or
/// r > 1 + eps_high with A > 0).
struct TokenTerm {
  double loss = 0, dloss_dlogp = 0, ratio = 1, kl = 0;
  bool clipped_low = false, clipped_high = false;
};
TokenTerm token_term(double logp, double old_logp, double ref_logp, double advantage,
                     double eps_low, double eps_high, double beta);

enum class LossType { Grpo, Bnpo, DrGrpo };
/// "grpo", "bnpo" or "dapo" (both token-level over the batch), "dr_grpo". Errors: other names.
Result<LossType> parse_loss_type(const std::string& s);

/// Per-sequence token weights w_i such that loss = sum_i w_i * sum_t l_{i,t} over the batch of
/// sequences with completion lengths `lens` (tokens in the loss):
///   grpo:    w_i = 1 / (len_i * N)            (sequence mean, then batch mean; len 0 -> 0)
///   bnpo:    w_i = 1 / sum_j len_j            (token-level: DAPO)
///   dr_grpo: w_i = 1 / (N * max_completion_length)
std::vector<double> sequence_weights(std::span<const int64_t> lens, LossType type,
                                     int64_t max_completion_length);

/// DAPO's soft overlong punishment (Yu et al. 2025, eq. 13): 0 for len <= max - buffer, falling
/// linearly to -1 at len == max ((max - buffer - len) / buffer), -1 beyond. buffer <= 0: 0.
double overlong_penalty(int64_t len, int64_t max_len, int64_t buffer);

/// log-softmax of row/temperature at `target`, the row's entropy (nats, of the tempered
/// distribution) and, when dlogits is non-null, d logp / d logits = (onehot - softmax) / T scaled
/// by `scale` and WRITTEN into dlogits [V].
double token_logprob(const float* logits, int64_t V, int32_t target, double temperature,
                     double* entropy, float* dlogits, double scale);

inline double k3(double logp, double ref_logp) {
  const double d = ref_logp - logp;
  return std::exp(d) - d - 1.0;
}

}  // namespace r1::train::grpo
