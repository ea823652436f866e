#include "train/grpo_math.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace r1::train::grpo {

namespace {

/// Mean and unbiased std of one group.
void group_stats(std::span<const float> r, double* mean, double* std) {
  double s = 0;
  for (float x : r) s += x;
  const double m = s / double(r.size());
  double ss = 0;
  for (float x : r) ss += (x - m) * (x - m);
  *mean = m;
  *std = r.size() > 1 ? std::sqrt(ss / double(r.size() - 1)) : 0.0;
}

}  // namespace

std::vector<float> group_advantages(std::span<const float> rewards, int64_t G, bool scale_rewards,
                                    double eps, int64_t* zero_std_groups) {
  R1_CHECK(G > 0 && int64_t(rewards.size()) % G == 0, "{} rewards are not groups of {}",
           rewards.size(), G);
  std::vector<float> adv(rewards.size());
  int64_t zero = 0;
  for (size_t g = 0; g < rewards.size() / size_t(G); ++g) {
    const auto r = rewards.subspan(g * size_t(G), size_t(G));
    double m, s;
    group_stats(r, &m, &s);
    const bool flat = s < 1e-12;
    if (flat) ++zero;
    for (int64_t i = 0; i < G; ++i) {
      // A flat group is exactly 0 (no 0/0 when eps is 0, no float residue of r - mean).
      double a = flat ? 0.0 : double(r[size_t(i)]) - m;
      if (scale_rewards && !flat) a /= (s + eps);
      adv[g * size_t(G) + size_t(i)] = float(a);
    }
  }
  if (zero_std_groups) *zero_std_groups = zero;
  return adv;
}

std::vector<bool> zero_std_flags(std::span<const float> rewards, int64_t G) {
  R1_CHECK(G > 0 && int64_t(rewards.size()) % G == 0, "{} rewards are not groups of {}",
           rewards.size(), G);
  std::vector<bool> out;
  for (size_t g = 0; g < rewards.size() / size_t(G); ++g) {
    double m, s;
    group_stats(rewards.subspan(g * size_t(G), size_t(G)), &m, &s);
    out.push_back(s < 1e-12);
  }
  return out;
}

TokenTerm token_term(double logp, double old_logp, double ref_logp, double advantage,
                     double eps_low, double eps_high, double beta) {
  TokenTerm t;
  t.ratio = std::exp(logp - old_logp);
  const double clipped = std::clamp(t.ratio, 1.0 - eps_low, 1.0 + eps_high);
  const double l1 = t.ratio * advantage, l2 = clipped * advantage;
  // torch.min passes the gradient to the smaller operand (the first on a tie); the clipped
  // operand has zero gradient outside [1 - eps_low, 1 + eps_high] and equals l1 inside it.
  if (l1 <= l2) {
    t.loss = -l1;
    t.dloss_dlogp = -t.ratio * advantage;
  } else {
    t.loss = -l2;
    t.dloss_dlogp = 0.0;
  }
  t.clipped_low = t.ratio < 1.0 - eps_low && advantage < 0;
  t.clipped_high = t.ratio > 1.0 + eps_high && advantage > 0;
  if (beta != 0.0) {
    t.kl = k3(logp, ref_logp);
    t.loss += beta * t.kl;
    t.dloss_dlogp += beta * (1.0 - std::exp(ref_logp - logp));
  }
  return t;
}

Result<LossType> parse_loss_type(const std::string& s) {
  if (s == "grpo") return LossType::Grpo;
  if (s == "bnpo" || s == "dapo") return LossType::Bnpo;
  if (s == "dr_grpo") return LossType::DrGrpo;
  return make_error("--loss_type: '{}' is not one of grpo, bnpo, dapo, dr_grpo", s);
}

std::vector<double> sequence_weights(std::span<const int64_t> lens, LossType type,
                                     int64_t max_completion_length) {
  const double N = double(lens.size());
  std::vector<double> w(lens.size(), 0.0);
  if (lens.empty()) return w;
  int64_t total = 0;
  for (int64_t l : lens) total += l;
  for (size_t i = 0; i < lens.size(); ++i) {
    switch (type) {
      case LossType::Grpo:
        w[i] = lens[i] > 0 ? 1.0 / (double(lens[i]) * N) : 0.0;
        break;
      case LossType::Bnpo:
        w[i] = total > 0 ? 1.0 / double(total) : 0.0;
        break;
      case LossType::DrGrpo:
        w[i] = 1.0 / (N * double(std::max<int64_t>(max_completion_length, 1)));
        break;
    }
  }
  return w;
}

double overlong_penalty(int64_t len, int64_t max_len, int64_t buffer) {
  if (buffer <= 0) return 0.0;
  const int64_t expected = max_len - buffer;
  if (len <= expected) return 0.0;
  if (len > max_len) return -1.0;
  return double(expected - len) / double(buffer);
}

double token_logprob(const float* logits, int64_t V, int32_t target, double temperature,
                     double* entropy, float* dlogits, double scale) {
  R1_CHECK(target >= 0 && target < V, "target {} outside [0, {})", target, V);
  const double inv_t = temperature > 0 ? 1.0 / temperature : 1.0;
  double mx = -INFINITY;
  for (int64_t v = 0; v < V; ++v) mx = std::max(mx, double(logits[v]) * inv_t);
  double z = 0, ez = 0;
  for (int64_t v = 0; v < V; ++v) {
    const double x = double(logits[v]) * inv_t - mx;
    const double e = std::exp(x);
    z += e;
    ez += e * x;
  }
  const double logz = std::log(z);
  if (entropy) *entropy = logz - ez / z;
  if (dlogits) {
    for (int64_t v = 0; v < V; ++v) {
      const double p = std::exp(double(logits[v]) * inv_t - mx - logz);
      dlogits[v] = float(((v == target ? 1.0 : 0.0) - p) * inv_t * scale);
    }
  }
  return double(logits[target]) * inv_t - mx - logz;
}

}  // namespace r1::train::grpo
