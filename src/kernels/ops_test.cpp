// Row-wise kernels against their scalar references and against properties any correct
// implementation must have (softmax sums to 1, top-k tie order, ...); the references themselves
// against their textbook formulas computed here in f64.
//
// Tolerances (f32 kernels vs f64-accumulating references):
//  - RMSNorm: 1e-5 * (1 + |ref|) — a sum of squares over D <= 1537 terms in SIMD lanes.
//  - softmax: 1e-6 absolute (outputs in [0, 1]); sum within 1e-5 of 1.
//  - SiLU / SwiGLU: 1e-6 * (1 + |ref|) — exp within an ulp plus a division and a product.
//  - top-k and argmax: exact (indices and values, ties to the lower index).
#include "kernels/ops.h"

#include <gtest/gtest.h>
#include <hwy/targets.h>

#include <cmath>
#include <random>
#include <vector>

namespace r1::kernels {
namespace {

std::vector<float> randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

TEST(Ops, RmsnormMatchesReference) {
  for (int64_t D : {1, 7, 64, 1536, 1537}) {
    const int64_t T = 3;
    auto x = randn(size_t(T * D), 1, 3.0f), w = randn(size_t(D), 2);
    std::vector<float> a(x.size()), b(x.size());
    rmsnorm(x.data(), w.data(), 1e-6f, a.data(), T, D);
    rmsnorm_ref(x.data(), w.data(), 1e-6f, b.data(), T, D);
    // Relative error of f32 accumulation over D terms, per element scaled by |w| (|x*r| ~ 1).
    for (size_t i = 0; i < a.size(); ++i)
      ASSERT_NEAR(a[i], b[i], 1e-5f * (1 + std::fabs(b[i]))) << "D=" << D << " i=" << i;
  }
}

TEST(Ops, RmsnormInPlaceAndUnitRms) {
  const int64_t D = 100;
  auto x = randn(D, 3, 5.0f);
  std::vector<float> w(D, 1.0f);
  rmsnorm(x.data(), w.data(), 0.0f, x.data(), 1, D);
  double ss = 0;
  for (float v : x) ss += double(v) * v;
  EXPECT_NEAR(ss / D, 1.0, 1e-5);
}

TEST(Ops, SoftmaxMatchesReferenceAndIsStable) {
  for (int64_t n : {1, 5, 33, 1000}) {
    auto x = randn(size_t(n), 4, 30.0f);
    x[0] = 1000.0f;  // would overflow exp without the max shift
    auto y = x;
    softmax(x.data(), n);
    softmax_ref(y.data(), n);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      ASSERT_NEAR(x[i], y[i], 1e-6f) << i;
      sum += x[i];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
  std::vector<float> m = {-INFINITY, 0.0f, -INFINITY};
  softmax(m.data(), 3);
  EXPECT_EQ(m[0], 0.0f);
  EXPECT_EQ(m[1], 1.0f);
}

TEST(Ops, SiluAndSwigluMatchReference) {
  // Odd lengths exercise the scalar tails; |gate| up to ~40 and beyond the exp clamp.
  for (int64_t n : {1, 15, 77, 1000}) {
    auto g = randn(size_t(n), 5, 15.0f), u = randn(size_t(n), 6);
    g[0] = -200.0f;  // exp(200) overflows f32: silu must still be ~0, not NaN
    std::vector<float> s(g.size()), sr(g.size()), sw(g.size()), swr(g.size());
    silu(g.data(), s.data(), n);
    silu_ref(g.data(), sr.data(), n);
    swiglu(g.data(), u.data(), sw.data(), n);
    swiglu_ref(g.data(), u.data(), swr.data(), n);
    for (size_t i = 0; i < g.size(); ++i) {
      // exp within 1 ulp plus a division and a multiply: a few ulp of the result.
      ASSERT_NEAR(s[i], sr[i], 1e-6f * (1 + std::fabs(sr[i]))) << i;
      ASSERT_NEAR(sw[i], swr[i], 1e-6f * (1 + std::fabs(swr[i]))) << i;
    }
  }
  // In place (out aliases gate).
  auto g = randn(33, 8), u = randn(33, 9), want = g;
  swiglu_ref(g.data(), u.data(), want.data(), 33);
  swiglu(g.data(), u.data(), g.data(), 33);
  for (size_t i = 0; i < g.size(); ++i) ASSERT_NEAR(g[i], want[i], 1e-6f * (1 + std::fabs(want[i])));
}

TEST(Ops, SimdOnEveryCompiledTarget) {
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    hwy::SetSupportedTargetsForTest(target);
    SCOPED_TRACE(hwy::TargetName(target));
    const int64_t n = 45;
    auto g = randn(n, 10, 6.0f), u = randn(n, 11);
    std::vector<float> a(n), b(n);
    swiglu(g.data(), u.data(), a.data(), n);
    swiglu_ref(g.data(), u.data(), b.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[size_t(i)], b[size_t(i)], 1e-6f * (1 + std::fabs(b[size_t(i)])));
    a = g;
    b = g;
    softmax(a.data(), n);
    softmax_ref(b.data(), n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[size_t(i)], b[size_t(i)], 1e-6f);
    rmsnorm(g.data(), u.data(), 1e-5f, a.data(), 1, n);
    rmsnorm_ref(g.data(), u.data(), 1e-5f, b.data(), 1, n);
    for (int64_t i = 0; i < n; ++i) ASSERT_NEAR(a[size_t(i)], b[size_t(i)], 1e-5f * (1 + std::fabs(b[size_t(i)])));
  }
  hwy::SetSupportedTargetsForTest(0);
}

TEST(Ops, ReferencesMatchTheirFormulas) {
  const int64_t D = 37;
  auto x = randn(size_t(2 * D), 21, 3.0f), w = randn(size_t(D), 22);
  std::vector<float> y(x.size());
  rmsnorm_ref(x.data(), w.data(), 1e-5f, y.data(), 2, D);
  for (int64_t t = 0; t < 2; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += double(x[size_t(t * D + i)]) * x[size_t(t * D + i)];
    const double inv = 1 / std::sqrt(ss / double(D) + 1e-5);
    for (int64_t i = 0; i < D; ++i)  // HF LlamaRMSNorm: weight * (x * rsqrt(mean(x^2) + eps))
      ASSERT_NEAR(y[size_t(t * D + i)], double(w[size_t(i)]) * x[size_t(t * D + i)] * inv,
                  1e-6 * (1 + std::fabs(y[size_t(t * D + i)])));
  }
  auto s = randn(size_t(D), 23, 5.0f), sm = s;
  softmax_ref(sm.data(), D);
  double z = 0;
  for (float v : s) z += std::exp(double(v));
  for (int64_t i = 0; i < D; ++i) ASSERT_NEAR(sm[size_t(i)], std::exp(double(s[size_t(i)])) / z, 1e-7);
  auto g = randn(size_t(D), 24, 6.0f), u = randn(size_t(D), 25);
  std::vector<float> si(g.size()), sw(g.size());
  silu_ref(g.data(), si.data(), D);
  swiglu_ref(g.data(), u.data(), sw.data(), D);
  for (int64_t i = 0; i < D; ++i) {
    const double gi = g[size_t(i)], silu_f = gi / (1 + std::exp(-gi));
    ASSERT_NEAR(si[size_t(i)], silu_f, 1e-6 * (1 + std::fabs(silu_f))) << i;
    ASSERT_NEAR(sw[size_t(i)], silu_f * u[size_t(i)], 1e-6 * (1 + std::fabs(silu_f * u[size_t(i)]))) << i;
  }
}

TEST(Ops, ArgmaxTiesAndNan) {
  std::vector<float> x = {1, 3, 2, 3};
  EXPECT_EQ(argmax(x.data(), 4), 1);
  x = {NAN, -1, NAN, 5, 5};
  EXPECT_EQ(argmax(x.data(), 5), 3);
}

TEST(Ops, TopKMatchesSortReference) {
  std::mt19937 rng(7);
  for (int iter = 0; iter < 50; ++iter) {
    const int64_t n = 1 + int64_t(rng() % 300), k = 1 + int64_t(rng() % n);
    std::vector<float> x(static_cast<size_t>(n));
    for (auto& v : x) v = float(int(rng() % 20));  // many ties
    std::vector<int32_t> i1(static_cast<size_t>(k)), i2(static_cast<size_t>(k));
    std::vector<float> v1(static_cast<size_t>(k)), v2(static_cast<size_t>(k));
    top_k(x.data(), n, k, i1.data(), v1.data());
    top_k_ref(x.data(), n, k, i2.data(), v2.data());
    ASSERT_EQ(i1, i2) << "n=" << n << " k=" << k;
    ASSERT_EQ(v1, v2);
  }
  std::vector<float> x = {2, 5, 5, 1, 5};
  std::vector<int32_t> idx(3);
  top_k(x.data(), 5, 3, idx.data(), nullptr);
  EXPECT_EQ(idx, (std::vector<int32_t>{1, 2, 4}));
}

}  // namespace
}  // namespace r1::kernels
