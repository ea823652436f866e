#include "train/optim.h"

#include <cmath>
#include <numbers>
#include <stdexcept>

#include <fmt/format.h>

namespace r1::train {

AdamW::AdamW(const std::vector<Param>& params, AdamWConfig cfg) : cfg_(cfg) {
  const auto in01 = [](double b) { return std::isfinite(b) && b >= 0 && b < 1; };
  if (!in01(cfg.beta1) || !in01(cfg.beta2))
    throw std::invalid_argument(
        fmt::format("AdamW betas must be in [0, 1), got {} and {}", cfg.beta1, cfg.beta2));
  if (!std::isfinite(cfg.eps) || cfg.eps <= 0)
    throw std::invalid_argument(fmt::format("AdamW eps must be > 0, got {}", cfg.eps));
  if (!std::isfinite(cfg.weight_decay) || cfg.weight_decay < 0)
    throw std::invalid_argument(
        fmt::format("weight decay must be a finite number >= 0, got {}", cfg.weight_decay));
  for (const auto& p : params) {
    m_.emplace_back(size_t(p.data.numel()), 0.0f);
    v_.emplace_back(size_t(p.data.numel()), 0.0f);
  }
}

void AdamW::step(std::vector<Param>& params, double lr) {
  R1_CHECK(params.size() == m_.size(), "optimizer built for {} params, got {}", m_.size(),
           params.size());
  ++t_;
  const float b1 = float(cfg_.beta1), b2 = float(cfg_.beta2);
  const double bc1 = 1.0 - std::pow(cfg_.beta1, double(t_));
  const double bc2 = 1.0 - std::pow(cfg_.beta2, double(t_));
  const float step_size = float(lr / bc1);
  const float inv_sqrt_bc2 = float(1.0 / std::sqrt(bc2));
  const float eps = float(cfg_.eps);
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = params[i];
    if (!p.trainable) continue;
    float* w = p.data.data<float>();
    const float* g = p.grad.data();
    float* m = m_[i].data();
    float* v = v_[i].data();
    const float decay = p.decay ? float(1.0 - lr * cfg_.weight_decay) : 1.0f;
    const int64_t n = p.data.numel();
    for (int64_t j = 0; j < n; ++j) {
      w[j] *= decay;
      m[j] = b1 * m[j] + (1.0f - b1) * g[j];
      v[j] = b2 * v[j] + (1.0f - b2) * g[j] * g[j];
      w[j] -= step_size * m[j] / (std::sqrt(v[j]) * inv_sqrt_bc2 + eps);
    }
  }
}

double clip_grad_norm(std::vector<Param>& params, double max_norm) {
  if (!std::isfinite(max_norm) || max_norm < 0)
    throw std::invalid_argument(
        fmt::format("gradient clipping norm must be a finite number >= 0, got {}", max_norm));
  double ss = 0;
  for (const auto& p : params)
    for (float g : p.grad) ss += double(g) * g;
  const double norm = std::sqrt(ss);
  // Stop before the optimizer writes NaN into the weights (and a later checkpoint saves them).
  if (!std::isfinite(norm))
    throw std::runtime_error(
        "the gradients are not finite (NaN or inf): training diverged; lower the learning rate");
  if (max_norm > 0 && norm > max_norm) {
    const float s = float(max_norm / (norm + 1e-6));
    for (auto& p : params)
      for (float& g : p.grad) g *= s;
  }
  return norm;
}

double lr_at(int64_t step, double lr, double min_lr, int64_t warmup, int64_t total_steps) {
  if (!std::isfinite(lr) || lr < 0 || !std::isfinite(min_lr) || min_lr < 0 || warmup < 0)
    throw std::invalid_argument(fmt::format(
        "learning rate must be finite and >= 0 (min {}, warmup steps {} >= 0), got {}", min_lr,
        warmup, lr));
  if (warmup > 0 && step < warmup) return lr * double(step + 1) / double(warmup);
  if (step >= total_steps) return min_lr;
  const double span = double(std::max<int64_t>(1, total_steps - warmup));
  const double progress = double(step - warmup) / span;
  return min_lr + 0.5 * (lr - min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace r1::train
