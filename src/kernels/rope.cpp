#include "kernels/rope.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "core/check.h"

namespace r1::kernels {

namespace {

// YaRN correction dim (HF DeepSeek-V3 yarn_find_correction_dim): the dim index whose
// wavelength completes `num_rotations` turns over the original context.
double yarn_find_correction_dim(double num_rotations, double dim, double base, double max_pos) {
  return (dim * std::log(max_pos / (num_rotations * 2 * std::numbers::pi))) / (2 * std::log(base));
}

}  // namespace

double yarn_get_mscale(double scale, double mscale) {
  if (scale <= 1) return 1.0;
  return 0.1 * mscale * std::log(scale) + 1.0;
}

RopeTable rope_table(double theta, int64_t rot_dim, const RopeScaling& s) {
  R1_CHECK(rot_dim > 0 && rot_dim % 2 == 0, "rotary dim {} must be even and positive", rot_dim);
  R1_CHECK(theta > 0, "rope theta {}", theta);
  RopeTable t;
  t.rot_dim = rot_dim;
  const int64_t half = rot_dim / 2;
  // HF computes base ** (arange(0, R, 2) / R) in f32; f64 here differs by at most 1 ulp of f32.
  std::vector<double> inv(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv[size_t(i)] = 1.0 / std::pow(theta, double(2 * i) / double(rot_dim));
  switch (s.type) {
    case RopeScalingType::None:
      break;
    case RopeScalingType::Linear:
      R1_CHECK(s.factor > 0, "rope_scaling.factor {}", s.factor);
      for (auto& f : inv) f /= s.factor;
      break;
    case RopeScalingType::Llama3: {
      R1_CHECK(s.factor > 0 && s.original_max_position_embeddings > 0 &&
                   s.high_freq_factor != s.low_freq_factor,
               "llama3 rope_scaling: factor {} original_max_position_embeddings {}", s.factor,
               s.original_max_position_embeddings);
      const double old_ctx = double(s.original_max_position_embeddings);
      const double low_wavelen = old_ctx / s.low_freq_factor;
      const double high_wavelen = old_ctx / s.high_freq_factor;
      for (auto& f : inv) {
        const double wavelen = 2 * std::numbers::pi / f;
        if (wavelen > low_wavelen) {
          f = f / s.factor;
        } else if (!(wavelen < high_wavelen)) {  // medium band: smooth interpolation
          const double smooth =
              (old_ctx / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
          f = (1 - smooth) * f / s.factor + smooth * f;
        }
      }
      break;
    }
    case RopeScalingType::Yarn: {
      R1_CHECK(s.factor > 0 && s.original_max_position_embeddings > 0,
               "yarn rope_scaling: factor {} original_max_position_embeddings {}", s.factor,
               s.original_max_position_embeddings);
      const double d = double(rot_dim), omax = double(s.original_max_position_embeddings);
      // yarn_find_correction_range(beta_fast, beta_slow, dim, base, original_max_pos)
      double low = std::floor(yarn_find_correction_dim(s.beta_fast, d, theta, omax));
      double high = std::ceil(yarn_find_correction_dim(s.beta_slow, d, theta, omax));
      low = std::max(low, 0.0);
      high = std::min(high, d - 1);
      if (low == high) high += 0.001;  // yarn_linear_ramp_mask avoids a zero division
      for (int64_t i = 0; i < half; ++i) {
        const double ramp = std::clamp((double(i) - low) / (high - low), 0.0, 1.0);
        const double extra_mask = 1.0 - ramp;  // 1: keep the original (extrapolated) frequency
        const double extra = inv[size_t(i)], inter = inv[size_t(i)] / s.factor;
        inv[size_t(i)] = inter * (1 - extra_mask) + extra * extra_mask;
      }
      t.attention_factor = float(yarn_get_mscale(s.factor, s.mscale) /
                                 yarn_get_mscale(s.factor, s.mscale_all_dim));
      break;
    }
  }
  t.inv_freq.assign(inv.begin(), inv.end());
  return t;
}

namespace {

template <typename Real>
void rope_apply_impl(const RopeTable& table, RopeLayout layout, float* x, int64_t T, int64_t H,
                     int64_t token_stride, int64_t head_stride, const int32_t* positions,
                     Real* cs) {
  const int64_t half = table.rot_dim / 2;
  for (int64_t t = 0; t < T; ++t) {
    // cos/sin of this position, shared by every head.
    for (int64_t i = 0; i < half; ++i) {
      // The angle in f64: p * inv_freq in f32 loses ~p * 6e-8 rad (HF does that in f32 too).
      const double ang = double(positions[t]) * double(table.inv_freq[size_t(i)]);
      cs[2 * i] = Real(std::cos(ang) * double(table.attention_factor));
      cs[2 * i + 1] = Real(std::sin(ang) * double(table.attention_factor));
    }
    for (int64_t h = 0; h < H; ++h) {
      float* v = x + t * token_stride + h * head_stride;
      const int64_t step = layout == RopeLayout::NeoX ? 1 : 2;
      const int64_t other = layout == RopeLayout::NeoX ? half : 1;
      for (int64_t i = 0; i < half; ++i) {
        float* a = v + i * step;
        float* b = a + other;
        const Real c = cs[2 * i], s = cs[2 * i + 1];
        const Real va = *a, vb = *b;
        *a = float(va * c - vb * s);
        *b = float(vb * c + va * s);
      }
    }
  }
}

}  // namespace

void rope_apply(const RopeTable& table, RopeLayout layout, float* x, int64_t T, int64_t H,
                int64_t token_stride, int64_t head_stride, const int32_t* positions) {
  R1_CHECK(table.rot_dim > 0 && int64_t(table.inv_freq.size()) * 2 == table.rot_dim,
           "rope table of rot_dim {}", table.rot_dim);
  thread_local std::vector<float> cs;
  cs.resize(size_t(table.rot_dim));
  rope_apply_impl<float>(table, layout, x, T, H, token_stride, head_stride, positions, cs.data());
}

void rope_apply_ref(const RopeTable& table, RopeLayout layout, float* x, int64_t T, int64_t H,
                    int64_t token_stride, int64_t head_stride, const int32_t* positions) {
  std::vector<double> cs(size_t(table.rot_dim));
  rope_apply_impl<double>(table, layout, x, T, H, token_stride, head_stride, positions, cs.data());
}

}  // namespace r1::kernels
