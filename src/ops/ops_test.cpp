// Central finite-difference checks of every backward rule in ops/backward.h. The scalar checked
// is L = sum(out * R) for a fixed random cotangent R (accumulated in f64), so the analytic
// gradient is the rule applied to dout = R; forwards are the scalar references of kernels/.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "kernels/attention.h"
#include "kernels/ops.h"
#include "kernels/rope.h"
#include "ops/backward.h"

namespace r1::ops {
namespace {

using Vec = std::vector<float>;

Vec randn(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, scale);
  Vec v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

// Numerical d(sum(f() * R))/d(x) for every entry of x (x is modified and restored).
Vec numeric_grad(Vec& x, const Vec& R, const std::function<Vec()>& f, float eps = 2e-3f) {
  Vec g(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float x0 = x[i];
    x[i] = x0 + eps;
    const double lp = dot(f(), R);
    x[i] = x0 - eps;
    const double lm = dot(f(), R);
    x[i] = x0;
    g[i] = float((lp - lm) / (2.0 * double(eps)));
  }
  return g;
}

double rel_l2(const Vec& a, const Vec& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

TEST(Backward, Linear) {
  const int64_t T = 5, N = 7, K = 9;
  Vec W = randn(size_t(N * K), 1), x = randn(size_t(T * K), 2), b = randn(size_t(N), 3);
  Vec R = randn(size_t(T * N), 4);
  auto f = [&] {
    Vec y(size_t(T * N));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < N; ++n) {
        double s = b[size_t(n)];
        for (int64_t k = 0; k < K; ++k) s += double(x[size_t(t * K + k)]) * W[size_t(n * K + k)];
        y[size_t(t * N + n)] = float(s);
      }
    return y;
  };
  Vec dx(x.size(), 0.0f), dW(W.size(), 0.0f), db(b.size(), 0.0f);
  linear_backward(W.data(), x.data(), R.data(), dx.data(), dW.data(), db.data(), T, N, K);
  EXPECT_LT(rel_l2(dx, numeric_grad(x, R, f)), 1e-3);
  EXPECT_LT(rel_l2(dW, numeric_grad(W, R, f)), 1e-3);
  EXPECT_LT(rel_l2(db, numeric_grad(b, R, f)), 1e-3);
  // Accumulates: a second call doubles the gradients.
  Vec dx2 = dx;
  linear_backward(W.data(), x.data(), R.data(), dx2.data(), nullptr, nullptr, T, N, K);
  for (size_t i = 0; i < dx.size(); ++i) EXPECT_FLOAT_EQ(dx2[i], 2 * dx[i]);
}

TEST(Backward, RmsNorm) {
  const int64_t T = 4, D = 11;
  const float eps = 1e-5f;
  Vec x = randn(size_t(T * D), 5), w = randn(size_t(D), 6), R = randn(size_t(T * D), 7);
  auto f = [&] {
    Vec y(x.size());
    kernels::rmsnorm_ref(x.data(), w.data(), eps, y.data(), T, D);
    return y;
  };
  Vec dx(x.size(), 0.0f), dw(w.size(), 0.0f);
  rmsnorm_backward(x.data(), w.data(), eps, R.data(), dx.data(), dw.data(), T, D);
  EXPECT_LT(rel_l2(dx, numeric_grad(x, R, f)), 2e-3);
  EXPECT_LT(rel_l2(dw, numeric_grad(w, R, f)), 2e-3);
}

TEST(Backward, Rope) {
  for (auto layout : {kernels::RopeLayout::NeoX, kernels::RopeLayout::Interleaved}) {
    const int64_t T = 3, H = 2, Hd = 10, R = 8;
    kernels::RopeScaling sc;
    sc.type = kernels::RopeScalingType::Yarn;
    sc.factor = 4;
    sc.original_max_position_embeddings = 16;
    sc.mscale = 0.9;
    sc.mscale_all_dim = 0.5;  // attention_factor != 1
    const kernels::RopeTable table = kernels::rope_table(10000.0, R, sc);
    std::vector<int32_t> pos = {0, 5, 41};
    Vec x = randn(size_t(T * H * Hd), 8), Rv = randn(x.size(), 9);
    auto f = [&] {
      Vec y = x;
      kernels::rope_apply_ref(table, layout, y.data() + 2, T, H, H * Hd, Hd, pos.data());
      return y;
    };
    Vec g = Rv;
    // Only the rotated slice goes through rope_backward; the rest passes through unchanged.
    rope_backward(table, layout, g.data() + 2, T, H, H * Hd, Hd, pos.data());
    EXPECT_LT(rel_l2(g, numeric_grad(x, Rv, f)), 1e-3);
  }
}

TEST(Backward, AttentionGqaWithOffsetAndStrides) {
  for (int64_t p0 : {0, 3}) {
    kernels::AttentionParams p;
    p.T = 4;
    p.H = 4;
    p.Hkv = 2;
    p.Hd_k = 6;
    p.Hd_v = 5;
    p.p0 = p0;
    p.scale = 0.37f;
    p.k_pos_stride = p.Hkv * p.Hd_k + 3;  // padded rows, like the MLA cache
    p.v_pos_stride = p.Hkv * p.Hd_v + 1;
    const int64_t S = p0 + p.T;
    Vec q = randn(size_t(p.T * p.H * p.Hd_k), 10), k = randn(size_t(S * p.k_pos_stride), 11),
        v = randn(size_t(S * p.v_pos_stride), 12), R = randn(size_t(p.T * p.H * p.Hd_v), 13);
    auto f = [&] {
      Vec o(R.size());
      kernels::attention_ref(p, q.data(), k.data(), v.data(), o.data());
      return o;
    };
    Vec dq(q.size(), 0.0f), dk(k.size(), 0.0f), dv(v.size(), 0.0f);
    attention_backward(p, q.data(), k.data(), v.data(), R.data(), dq.data(), dk.data(), dv.data());
    EXPECT_LT(rel_l2(dq, numeric_grad(q, R, f)), 2e-3) << "p0 " << p0;
    EXPECT_LT(rel_l2(dk, numeric_grad(k, R, f)), 2e-3) << "p0 " << p0;
    EXPECT_LT(rel_l2(dv, numeric_grad(v, R, f)), 2e-3) << "p0 " << p0;
  }
}

TEST(Backward, SwiGlu) {
  const int64_t n = 40;
  Vec g = randn(size_t(n), 14, 2.0f), u = randn(size_t(n), 15), R = randn(size_t(n), 16);
  auto f = [&] {
    Vec y(static_cast<size_t>(n));
    kernels::swiglu_ref(g.data(), u.data(), y.data(), n);
    return y;
  };
  Vec dg(g.size(), 0.0f), du(u.size(), 0.0f);
  swiglu_backward(g.data(), u.data(), R.data(), dg.data(), du.data(), n);
  EXPECT_LT(rel_l2(dg, numeric_grad(g, R, f)), 1e-3);
  EXPECT_LT(rel_l2(du, numeric_grad(u, R, f)), 1e-3);
}

TEST(Backward, EmbeddingRepeatedIds) {
  const int64_t V = 6, D = 3, T = 5;
  std::vector<int32_t> ids = {2, 0, 2, 5, 2};
  Vec W = randn(size_t(V * D), 17), R = randn(size_t(T * D), 18);
  auto f = [&] {
    Vec y(size_t(T * D));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < D; ++i) y[size_t(t * D + i)] = W[size_t(ids[size_t(t)] * D + i)];
    return y;
  };
  Vec dW(W.size(), 0.0f);
  embedding_backward(ids.data(), R.data(), dW.data(), T, D);
  EXPECT_LT(rel_l2(dW, numeric_grad(W, R, f)), 1e-3);
}

TEST(Backward, CrossEntropyIgnoreIndex) {
  const int64_t T = 4, V = 7;
  std::vector<int32_t> y = {3, -100, 0, 6};
  Vec logits = randn(size_t(T * V), 19, 2.0f);
  int64_t count = 0;
  Vec dl(logits.size(), 1.0f);
  const double loss = cross_entropy(logits.data(), y.data(), T, V, &count, dl.data(), 1.0f / 3);
  EXPECT_EQ(count, 3);
  // Independent value: the sum over the counted rows of log-sum-exp - logit[y], in double.
  double want = 0;
  for (int64_t t = 0; t < T; ++t) {
    if (y[size_t(t)] < 0) continue;
    double s = 0;
    for (int64_t i = 0; i < V; ++i) s += std::exp(double(logits[size_t(t * V + i)]));
    want += std::log(s) - logits[size_t(t * V + y[size_t(t)])];
  }
  std::printf("cross_entropy %.9g, double reference %.9g, |diff| %.3g\n", loss, want,
              std::fabs(loss - want));
  // Measured |diff| 4.3e-9 (8.4e-10 x loss: the sum is kept in double). Tolerance 1e-7 x loss,
  // about one float32 ulp of the loss and a 100x margin; an ignored row counted, a row missed or
  // a wrong logit picked moves the loss by O(1).
  EXPECT_NEAR(loss, want, 1e-7 * std::fabs(want));
  Vec one = {1.0f};
  auto f = [&] {
    int64_t c = 0;
    return Vec{float(cross_entropy(logits.data(), y.data(), T, V, &c, nullptr, 0) / 3)};
  };
  EXPECT_LT(rel_l2(dl, numeric_grad(logits, one, f)), 2e-3);
  for (int64_t i = 0; i < V; ++i) EXPECT_EQ(dl[size_t(V + i)], 0.0f);  // ignored row
}

}  // namespace
}  // namespace r1::ops
