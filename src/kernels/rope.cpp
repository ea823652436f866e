#include "kernels/rope.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
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

namespace {

// cos/sin rows (rope_apply_impl's `cs` layout, float) of positions 0 .. n-1 for one table,
// cached per thread: training re-applies the same positions thousands of times, and the f64
// sincos per position and frequency cost more than the rotation itself. Keyed by the table's
// contents (not its address), filled on demand up to kMaxCachedPos; values are bit-identical
// to computing them per call.
struct RopeCsCache {
  std::vector<float> inv_freq;
  float attention_factor = 0.0f;
  int64_t n_pos = 0;
  std::vector<float> cs;  // [n_pos, rot_dim]
};
constexpr int64_t kMaxCachedPos = 1 << 15;

const float* cached_cs(const RopeTable& table, int64_t max_pos) {
  thread_local RopeCsCache c;
  const int64_t R = table.rot_dim, half = R / 2;
  if (c.inv_freq != table.inv_freq || c.attention_factor != table.attention_factor) {
    c.inv_freq = table.inv_freq;
    c.attention_factor = table.attention_factor;
    c.n_pos = 0;
    c.cs.clear();
  }
  if (max_pos >= c.n_pos) {
    const int64_t n = std::min(kMaxCachedPos, std::max(max_pos + 1, 2 * c.n_pos));
    c.cs.resize(size_t(n * R));
    for (int64_t p = c.n_pos; p < n; ++p)
      for (int64_t i = 0; i < half; ++i) {
        const double ang = double(p) * double(table.inv_freq[size_t(i)]);
        c.cs[size_t(p * R + 2 * i)] = float(std::cos(ang) * double(table.attention_factor));
        c.cs[size_t(p * R + 2 * i + 1)] = float(std::sin(ang) * double(table.attention_factor));
      }
    c.n_pos = n;
  }
  return c.cs.data();
}

}  // namespace

void rope_apply(const RopeTable& table, RopeLayout layout, float* x, int64_t T, int64_t H,
                int64_t token_stride, int64_t head_stride, const int32_t* positions) {
  R1_CHECK(table.rot_dim > 0 && int64_t(table.inv_freq.size()) * 2 == table.rot_dim,
           "rope table of rot_dim {}", table.rot_dim);
  int64_t max_abs = 0;
  for (int64_t t = 0; t < T; ++t)
    max_abs = std::max(max_abs, std::abs(int64_t(positions[t])));
  if (T == 0 || max_abs >= kMaxCachedPos) {
    thread_local std::vector<float> cs;
    cs.resize(size_t(table.rot_dim));
    rope_apply_impl<float>(table, layout, x, T, H, token_stride, head_stride, positions,
                           cs.data());
    return;
  }
  // Cached rows; a negative position (rope_backward rotates by -theta) uses the row of |p| with
  // sin negated: cos is even and sin odd exactly in IEEE arithmetic, so this stays bit-identical.
  const float* table_cs = cached_cs(table, max_abs);
  const int64_t R = table.rot_dim, half = R / 2;
  const int64_t step = layout == RopeLayout::NeoX ? 1 : 2;
  const int64_t other = layout == RopeLayout::NeoX ? half : 1;
  for (int64_t t = 0; t < T; ++t) {
    const int64_t pos = positions[t];
    const float* cs = table_cs + std::abs(pos) * R;
    const float sgn = pos < 0 ? -1.0f : 1.0f;
    for (int64_t h = 0; h < H; ++h) {
      float* v = x + t * token_stride + h * head_stride;
      for (int64_t i = 0; i < half; ++i) {
        float* a = v + i * step;
        float* b = a + other;
        const float c = cs[2 * i], s = sgn * cs[2 * i + 1];
        const float va = *a, vb = *b;
        *a = va * c - vb * s;
        *b = vb * c + va * s;
      }
    }
  }
}

void rope_apply_ref(const RopeTable& table, RopeLayout layout, float* x, int64_t T, int64_t H,
                    int64_t token_stride, int64_t head_stride, const int32_t* positions) {
  std::vector<double> cs(size_t(table.rot_dim));
  rope_apply_impl<double>(table, layout, x, T, H, token_stride, head_stride, positions, cs.data());
}

}  // namespace r1::kernels
