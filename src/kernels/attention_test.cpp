// Causal GQA attention against the f64 reference, including MLA-like unequal K/V head dims
// sharing one cache row through the strides, and a check of the causal mask itself.
#include "kernels/attention.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

void check_against_ref(const AttentionParams& p, int64_t S, ThreadPool& pool, uint32_t seed) {
  const int64_t ks = p.k_pos_stride ? p.k_pos_stride : p.Hkv * p.Hd_k;
  const int64_t vs = p.v_pos_stride ? p.v_pos_stride : p.Hkv * p.Hd_v;
  auto q = randn(size_t(p.T * p.H * p.Hd_k), seed);
  auto k = randn(size_t(S * ks), seed + 1), v = randn(size_t(S * vs), seed + 2);
  std::vector<float> a(size_t(p.T * p.H * p.Hd_v)), b(a.size());
  attention(p, q.data(), k.data(), v.data(), a.data(), pool);
  attention_ref(p, q.data(), k.data(), v.data(), b.data());
  // Outputs are convex combinations of V rows (|v| ~ 1): absolute tolerance.
  for (size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-5f) << i;
}

TEST(Attention, PrefillAndDecodeGqa) {
  ThreadPool pool(2);
  AttentionParams p;
  p.H = 6;
  p.Hkv = 2;
  p.Hd_k = p.Hd_v = 17;
  p.scale = 1.0f / std::sqrt(17.0f);
  p.T = 9;
  p.p0 = 0;
  check_against_ref(p, 9, pool, 1);
  p.T = 1;
  p.p0 = 40;
  check_against_ref(p, 41, pool, 2);
  p.T = 4;
  p.p0 = 13;
  check_against_ref(p, 20, pool, 3);
  // Qwen2-1.5B-like heads (12 q / 2 kv, Hd 128) at a longer context.
  p.H = 12;
  p.Hd_k = p.Hd_v = 128;
  p.scale = 1.0f / std::sqrt(128.0f);
  p.T = 3;
  p.p0 = 300;
  check_against_ref(p, 303, pool, 6);
}

TEST(Attention, UnequalHeadDimsAndSharedRows) {
  ThreadPool pool(2);
  AttentionParams p;
  p.T = 3;
  p.H = 4;
  p.Hkv = 4;
  p.Hd_k = 24;
  p.Hd_v = 16;
  p.p0 = 5;
  p.scale = 0.2f;
  check_against_ref(p, 8, pool, 4);
  // Absorbed MLA: one kv head; K = the whole 40-float row, V = its first 32 floats.
  p.Hkv = 1;
  p.Hd_k = 40;
  p.Hd_v = 32;
  p.k_pos_stride = p.v_pos_stride = 40;
  check_against_ref(p, 8, pool, 5);
  // V heads of 8 SIMD vectors plus a rest (AVX-512: 128 + 16, AVX2: 2 x 64 + 16): the
  // register-blocked weighted sum and its load/store tail.
  p.Hkv = 2;
  p.Hd_k = 64;
  p.Hd_v = 144;
  p.k_pos_stride = p.v_pos_stride = 0;
  p.T = 5;
  p.p0 = 30;
  check_against_ref(p, 35, pool, 10);
}

TEST(Attention, CausalMaskIgnoresFuturePositions) {
  ThreadPool pool(1);
  AttentionParams p;
  p.T = 2;
  p.H = p.Hkv = 1;
  p.Hd_k = p.Hd_v = 4;
  p.scale = 0.5f;
  auto q = randn(8, 7), k = randn(12, 8), v = randn(12, 9);
  std::vector<float> a(8), b(8);
  attention(p, q.data(), k.data(), v.data(), a.data(), pool);
  for (int i = 8; i < 12; ++i) k[size_t(i)] = v[size_t(i)] = 1e6f;  // position 2: never attended
  attention(p, q.data(), k.data(), v.data(), b.data(), pool);
  EXPECT_EQ(a, b);
  // Token 0 sees only position 0: its output is exactly v[0].
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(a[size_t(i)], v[size_t(i)]);
}

// The reference against the formula written out here: query head h reads kv head
// h / (H / Hkv) (HF repeat_kv), token t (absolute position p0 + t) sees cache rows 0..p0+t.
TEST(Attention, ReferenceMatchesGqaFormula) {
  AttentionParams p;
  p.T = 3;
  p.H = 6;
  p.Hkv = 2;
  p.Hd_k = 5;
  p.Hd_v = 3;
  p.p0 = 4;
  p.scale = 0.7f;
  const int64_t S = p.p0 + p.T;
  auto q = randn(size_t(p.T * p.H * p.Hd_k), 31), k = randn(size_t(S * p.Hkv * p.Hd_k), 32),
       v = randn(size_t(S * p.Hkv * p.Hd_v), 33);
  std::vector<float> out(size_t(p.T * p.H * p.Hd_v)), fast(out.size());
  attention_ref(p, q.data(), k.data(), v.data(), out.data());
  ThreadPool pool(2);
  attention(p, q.data(), k.data(), v.data(), fast.data(), pool);
  for (int64_t t = 0; t < p.T; ++t)
    for (int64_t h = 0; h < p.H; ++h) {
      const int64_t g = h / (p.H / p.Hkv), n = p.p0 + t + 1;
      std::vector<double> w(static_cast<size_t>(n));
      double mx = -1e300, z = 0;
      for (int64_t j = 0; j < n; ++j) {
        double d = 0;
        for (int64_t i = 0; i < p.Hd_k; ++i)
          d += double(q[size_t((t * p.H + h) * p.Hd_k + i)]) * k[size_t((j * p.Hkv + g) * p.Hd_k + i)];
        w[size_t(j)] = p.scale * d;
        mx = std::max(mx, w[size_t(j)]);
      }
      for (auto& x : w) z += (x = std::exp(x - mx));
      for (int64_t i = 0; i < p.Hd_v; ++i) {
        double o = 0;
        for (int64_t j = 0; j < n; ++j) o += w[size_t(j)] / z * v[size_t((j * p.Hkv + g) * p.Hd_v + i)];
        ASSERT_NEAR(out[size_t((t * p.H + h) * p.Hd_v + i)], o, 1e-6) << t << " " << h << " " << i;
        ASSERT_NEAR(fast[size_t((t * p.H + h) * p.Hd_v + i)], o, 1e-5) << t << " " << h << " " << i;
      }
    }
}

}  // namespace
}  // namespace r1::kernels
