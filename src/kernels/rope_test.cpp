// RoPE: tables against the HF formulas re-derived by hand for known configs, and the apply
// functions against the f64 reference and against the rotation properties of RoFormer.
#include "kernels/rope.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <random>
#include <vector>

namespace r1::kernels {
namespace {

std::vector<float> randn(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Rope, DefaultAndLinearTables) {
  auto t = rope_table(10000.0, 8);
  ASSERT_EQ(t.inv_freq.size(), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(t.inv_freq[size_t(i)], float(std::pow(10000.0, -2.0 * i / 8)));
  EXPECT_EQ(t.attention_factor, 1.0f);
  RopeScaling lin;
  lin.type = RopeScalingType::Linear;
  lin.factor = 4;
  auto l = rope_table(10000.0, 8, lin);
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(l.inv_freq[size_t(i)], t.inv_freq[size_t(i)] / 4);
}

TEST(Rope, Llama3Bands) {
  // Llama 3.1 config: theta 500000, head dim 128, factor 8, low 1, high 4, original 8192.
  RopeScaling s;
  s.type = RopeScalingType::Llama3;
  s.factor = 8;
  s.low_freq_factor = 1;
  s.high_freq_factor = 4;
  s.original_max_position_embeddings = 8192;
  auto base = rope_table(500000.0, 128), t = rope_table(500000.0, 128, s);
  int n_high = 0, n_low = 0, n_mid = 0;
  for (size_t i = 0; i < 64; ++i) {
    const double f = base.inv_freq[i], wl = 2 * std::numbers::pi / f;
    if (wl < 8192.0 / 4) {  // high frequency: unchanged
      EXPECT_FLOAT_EQ(t.inv_freq[i], base.inv_freq[i]);
      ++n_high;
    } else if (wl > 8192.0 / 1) {  // low frequency: divided by factor
      EXPECT_FLOAT_EQ(t.inv_freq[i], base.inv_freq[i] / 8);
      ++n_low;
    } else {  // between the two, monotone in i
      const double sm = (8192.0 / wl - 1) / (4 - 1);
      EXPECT_NEAR(t.inv_freq[i], (1 - sm) * f / 8 + sm * f, 1e-6 * f);
      ++n_mid;
    }
  }
  EXPECT_GT(n_high, 0);
  EXPECT_GT(n_low, 0);
  EXPECT_GT(n_mid, 0);
}

TEST(Rope, YarnDeepSeekV3) {
  // DeepSeek-V3 config.json: qk_rope_head_dim 64, rope_theta 10000, yarn factor 40,
  // original_max_position_embeddings 4096, beta_fast 32, beta_slow 1, mscale 1, mscale_all_dim 1.
  RopeScaling s;
  s.type = RopeScalingType::Yarn;
  s.factor = 40;
  s.original_max_position_embeddings = 4096;
  s.beta_fast = 32;
  s.beta_slow = 1;
  s.mscale = 1;
  s.mscale_all_dim = 1;
  auto base = rope_table(10000.0, 64), t = rope_table(10000.0, 64, s);
  // Correction range: floor(64 ln(4096/(32*2pi)) / (2 ln 1e4)) = 10,
  //                   ceil(64 ln(4096/(1*2pi)) / (2 ln 1e4)) = 23.
  const double lo = std::floor(64 * std::log(4096 / (32 * 2 * std::numbers::pi)) / (2 * std::log(1e4)));
  const double hi = std::ceil(64 * std::log(4096 / (2 * std::numbers::pi)) / (2 * std::log(1e4)));
  ASSERT_EQ(lo, 10);
  ASSERT_EQ(hi, 23);
  for (size_t i = 0; i < 32; ++i) {
    const double f = base.inv_freq[i];
    const double ramp = std::clamp((double(i) - lo) / (hi - lo), 0.0, 1.0);
    const double want = f / 40 * ramp + f * (1 - ramp);
    EXPECT_NEAR(t.inv_freq[i], want, 1e-6 * f) << i;
  }
  EXPECT_FLOAT_EQ(t.inv_freq[0], base.inv_freq[0]);            // extrapolated
  EXPECT_FLOAT_EQ(t.inv_freq[31], base.inv_freq[31] / 40);     // interpolated
  EXPECT_FLOAT_EQ(t.attention_factor, 1.0f);                   // mscale == mscale_all_dim
  s.mscale_all_dim = 0;                                        // HF default
  EXPECT_NEAR(rope_table(10000.0, 64, s).attention_factor, 0.1 * std::log(40.0) + 1, 1e-6);
  EXPECT_EQ(yarn_get_mscale(1.0, 1.0), 1.0);
  EXPECT_NEAR(yarn_get_mscale(40.0, 1.0), 1.0 + 0.1 * std::log(40.0), 1e-12);
}

TEST(Rope, ApplyMatchesReferenceBothLayouts) {
  const int64_t T = 5, H = 3, Hd = 24, R = 16;
  auto tab = rope_table(10000.0, R);
  std::vector<int32_t> pos = {0, 1, 7, 4095, 100000};
  for (auto layout : {RopeLayout::NeoX, RopeLayout::Interleaved}) {
    for (int64_t off : {0, 8}) {  // first R dims, or the last R (DeepSeek q_pe)
      auto x = randn(size_t(T * H * Hd), 3), y = x;
      rope_apply(tab, layout, x.data() + off, T, H, H * Hd, Hd, pos.data());
      rope_apply_ref(tab, layout, y.data() + off, T, H, H * Hd, Hd, pos.data());
      for (size_t i = 0; i < x.size(); ++i) ASSERT_NEAR(x[i], y[i], 2e-6f) << i;
    }
  }
}

TEST(Rope, PositionZeroIsIdentityAndUntouchedDims) {
  const int64_t H = 2, Hd = 10, R = 6;
  auto tab = rope_table(10000.0, R);
  auto x = randn(size_t(2 * H * Hd), 4), y = x;
  std::vector<int32_t> pos = {0, 3};
  rope_apply(tab, RopeLayout::NeoX, x.data(), 2, H, H * Hd, Hd, pos.data());
  for (int64_t i = 0; i < H * Hd; ++i) EXPECT_FLOAT_EQ(x[size_t(i)], y[size_t(i)]);
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = R; i < Hd; ++i) EXPECT_EQ(x[size_t(H * Hd + h * Hd + i)], y[size_t(H * Hd + h * Hd + i)]);
}

TEST(Rope, LayoutsAgreeUnderPermutationAndRelativePosition) {
  const int64_t R = 32;
  auto tab = rope_table(10000.0, R);
  auto q = randn(R, 5), k = randn(R, 6);
  // Interleaved pair (2i, 2i+1) == NeoX pair (i, i+R/2) after permuting.
  std::vector<float> qi(R);
  for (int64_t i = 0; i < R / 2; ++i) {
    qi[size_t(2 * i)] = q[size_t(i)];
    qi[size_t(2 * i + 1)] = q[size_t(i + R / 2)];
  }
  int32_t p = 37;
  auto qn = q;
  rope_apply(tab, RopeLayout::NeoX, qn.data(), 1, 1, R, R, &p);
  rope_apply(tab, RopeLayout::Interleaved, qi.data(), 1, 1, R, R, &p);
  for (int64_t i = 0; i < R / 2; ++i) {
    EXPECT_NEAR(qi[size_t(2 * i)], qn[size_t(i)], 1e-6);
    EXPECT_NEAR(qi[size_t(2 * i + 1)], qn[size_t(i + R / 2)], 1e-6);
  }
  // <rope(q, a), rope(k, b)> depends only on a - b.
  auto dot_at = [&](int32_t a, int32_t b) {
    auto qa = q, kb = k;
    rope_apply(tab, RopeLayout::NeoX, qa.data(), 1, 1, R, R, &a);
    rope_apply(tab, RopeLayout::NeoX, kb.data(), 1, 1, R, R, &b);
    double d = 0;
    for (int64_t i = 0; i < R; ++i) d += double(qa[size_t(i)]) * kb[size_t(i)];
    return d;
  };
  EXPECT_NEAR(dot_at(10, 3), dot_at(107, 100), 1e-4);
}

// The HF formulas written out here, independently of rope_apply_ref: rotate-half
// (modeling_llama.apply_rotary_pos_emb: x * cos + rotate_half(x) * sin with cos/sin of
// cat(freqs, freqs)) and the interleaved complex product of DeepSeek-V3's reference
// apply_rotary_emb (view_as_complex over pairs (2i, 2i+1) times e^{i p f_i}), both with a YaRN
// table whose cos/sin carry attention_factor != 1 (mscale 1, mscale_all_dim 0 as HF defaults).
// Tolerance 4e-6 * (1 + |want|): f32 cos/sin and products, a few ulp of |x| ~ 1.
TEST(Rope, ApplyMatchesHfFormulasWithYarnTable) {
  RopeScaling s;
  s.type = RopeScalingType::Yarn;
  s.factor = 40;
  s.original_max_position_embeddings = 4096;
  s.mscale = 1;
  s.mscale_all_dim = 0;
  const int64_t R = 64, H = 2, Hd = 80;  // rotary part = the last R dims (DeepSeek q_pe)
  const auto tab = rope_table(10000.0, R, s);
  const double m = tab.attention_factor;
  ASSERT_NEAR(m, 1 + 0.1 * std::log(40.0), 1e-6);
  // YaRN frequencies re-derived (see YarnDeepSeekV3): ramp over [10, 23].
  std::vector<double> f(R / 2);
  for (int64_t i = 0; i < R / 2; ++i) {
    const double base = std::pow(10000.0, -2.0 * double(i) / double(R));
    const double ramp = std::clamp((double(i) - 10) / 13, 0.0, 1.0);
    f[size_t(i)] = base / 40 * ramp + base * (1 - ramp);
    // The table keeps f32 frequencies (as HF's float32 inv_freq); angles use those exact values
    // (p * f rounds differently at p ~ 1e5 otherwise: 1e5 * 6e-8 rad).
    ASSERT_NEAR(tab.inv_freq[size_t(i)], f[size_t(i)], 1e-6 * f[size_t(i)]) << i;
    f[size_t(i)] = tab.inv_freq[size_t(i)];
  }
  const std::vector<int32_t> pos = {0, 5, 4095, 4096, 163839};
  const int64_t T = int64_t(pos.size());
  for (auto layout : {RopeLayout::NeoX, RopeLayout::Interleaved}) {
    const auto x0 = randn(size_t(T * H * Hd), 11);
    auto x = x0, y = x0;
    rope_apply(tab, layout, x.data() + (Hd - R), T, H, H * Hd, Hd, pos.data());
    rope_apply_ref(tab, layout, y.data() + (Hd - R), T, H, H * Hd, Hd, pos.data());
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* in = x0.data() + t * H * Hd + h * Hd;
        const float* got = x.data() + t * H * Hd + h * Hd;
        const float* ref = y.data() + t * H * Hd + h * Hd;
        for (int64_t j = 0; j < Hd - R; ++j) ASSERT_EQ(got[j], in[j]);  // nope part untouched
        const float* xr = in + (Hd - R);
        std::vector<double> want(static_cast<size_t>(R));
        for (int64_t j = 0; j < R; ++j) {
          if (layout == RopeLayout::NeoX) {
            const double a = pos[size_t(t)] * f[size_t(j % (R / 2))];
            const double rot = j < R / 2 ? -double(xr[j + R / 2]) : double(xr[j - R / 2]);
            want[size_t(j)] = double(xr[j]) * std::cos(a) * m + rot * std::sin(a) * m;
          } else {
            const double a = pos[size_t(t)] * f[size_t(j / 2)];
            const double re = xr[j & ~int64_t(1)], im = xr[j | 1];
            want[size_t(j)] = (j % 2 == 0 ? re * std::cos(a) - im * std::sin(a)
                                          : re * std::sin(a) + im * std::cos(a)) * m;
          }
          const double tol = 4e-6 * (1 + std::fabs(want[size_t(j)]));
          ASSERT_NEAR(got[Hd - R + j], want[size_t(j)], tol)
              << (layout == RopeLayout::NeoX ? "neox" : "interleaved") << " t=" << t << " j=" << j;
          ASSERT_NEAR(ref[Hd - R + j], want[size_t(j)], tol) << "reference, t=" << t << " j=" << j;
        }
      }
  }
}

}  // namespace
}  // namespace r1::kernels
