// AdamW (Loshchilov & Hutter 2019, decoupled weight decay, as torch.optim.AdamW computes it),
// gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_) and the warmup + cosine
// learning-rate schedule.
#pragma once
#include <cstdint>
#include <vector>

#include "train/lm.h"

namespace r1::train {

struct AdamWConfig {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  double weight_decay = 0.1;  // applied to Param::decay tensors only
};

class AdamW {
 public:
  /// Throws std::invalid_argument for betas outside [0, 1), eps <= 0 or a negative weight decay.
  AdamW(const std::vector<Param>& params, AdamWConfig cfg);
  /// One update at learning rate lr: t += 1; p *= 1 - lr*wd (decay params);
  /// m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps).
  void step(std::vector<Param>& params, double lr);
  int64_t t() const { return t_; }
  /// State for checkpoints: first/second moments per param (same order), and the step count.
  std::vector<std::vector<float>>& m() { return m_; }
  std::vector<std::vector<float>>& v() { return v_; }
  void set_t(int64_t t) { t_ = t; }

 private:
  AdamWConfig cfg_;
  int64_t t_ = 0;
  std::vector<std::vector<float>> m_, v_;
};

/// Global L2 norm of all gradients (accumulated in f64); if above max_norm (> 0), scales every
/// gradient by max_norm / (norm + 1e-6) like torch. Returns the norm before clipping.
/// Throws std::invalid_argument for a max_norm that is negative or not finite, and
/// std::runtime_error when the norm is not finite (a diverged step: NaN never reaches the weights).
double clip_grad_norm(std::vector<Param>& params, double max_norm);

/// Learning rate at optimizer step `step` (0-based): linear warmup from lr/warmup to lr over
/// `warmup` steps, then cosine decay to min_lr at total_steps (min_lr after that).
/// Throws std::invalid_argument for a negative or non-finite lr or min_lr, or warmup < 0.
double lr_at(int64_t step, double lr, double min_lr, int64_t warmup, int64_t total_steps);

}  // namespace r1::train
