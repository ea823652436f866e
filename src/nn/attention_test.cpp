// GQA attention with Qwen3's per-head q/k RMSNorm: the forward against an independent
// double-precision transcription of HF Qwen3Attention, the three inference paths (prefill,
// batched training rows, batched decode) against each other, and the tape's backward through
// the norm (weights, input, projections) against central finite differences.
#include "nn/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "autograd/tape.h"

namespace r1::nn {
namespace {

Tensor rand_tensor(std::mt19937& rng, std::initializer_list<int64_t> shape, float scale,
                   float offset = 0.0f) {
  Tensor t = Tensor::zeros(DType::F32, shape);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = offset + scale * nd(rng);
  return t;
}

// D 16, H 4 q heads sharing Hkv 2 kv heads, head_dim 12 (not D / H = 4), q/k/v/o biases.
constexpr int64_t kD = 16, kH = 4, kHkv = 2, kHd = 12;
constexpr float kEps = 1e-6f;

struct TinyAttention {
  Tensor wq, bq, wk, bk, wv, bv, wo, bo, q_norm, k_norm;
  RotaryEmbedding rope;
  GqaAttention attn;
};

TinyAttention make_attention(uint32_t seed) {
  std::mt19937 rng(seed);
  TinyAttention a;
  const float s = 0.4f;
  a.wq = rand_tensor(rng, {kH * kHd, kD}, s);
  a.bq = rand_tensor(rng, {kH * kHd}, s);
  a.wk = rand_tensor(rng, {kHkv * kHd, kD}, s);
  a.bk = rand_tensor(rng, {kHkv * kHd}, s);
  a.wv = rand_tensor(rng, {kHkv * kHd, kD}, s);
  a.bv = rand_tensor(rng, {kHkv * kHd}, s);
  a.wo = rand_tensor(rng, {kD, kH * kHd}, s);
  a.bo = rand_tensor(rng, {kD}, s);
  a.q_norm = rand_tensor(rng, {kHd}, 0.3f, 1.0f);
  a.k_norm = rand_tensor(rng, {kHd}, 0.3f, 1.0f);
  a.rope = RotaryEmbedding(kernels::rope_table(1000000.0, kHd), kernels::RopeLayout::NeoX);
  // Tensors are shared views: perturbing a.q_norm perturbs the block's weight.
  a.attn = GqaAttention(Linear(a.wq, a.bq), Linear(a.wk, a.bk), Linear(a.wv, a.bv),
                        Linear(a.wo, a.bo), &a.rope, kH, kHkv, kHd, RMSNorm(a.q_norm, kEps),
                        RMSNorm(a.k_norm, kEps));
  return a;
}

using Vec = std::vector<double>;

// y[n, N] = x W^T + b in double.
Vec linear_ref(const Tensor& w, const Tensor& b, const std::vector<float>& x, int64_t n) {
  const int64_t N = w.dim(0), K = w.dim(1);
  const float* W = w.data<float>();
  const float* B = b.data<float>();
  Vec y(size_t(n * N));
  for (int64_t t = 0; t < n; ++t)
    for (int64_t o = 0; o < N; ++o) {
      double s = B[o];
      for (int64_t k = 0; k < K; ++k) s += double(W[o * K + k]) * x[size_t(t * K + k)];
      y[size_t(t * N + o)] = s;
    }
  return y;
}

// HF Qwen3Attention.forward for one sequence at positions 0..T-1, transcribed in double:
// q/k/v projections, view (T, heads, Hd), q_norm/k_norm (Qwen3RMSNorm over Hd), apply_rotary_pos_emb
// with rotate_half, repeat_kv, causal softmax(q k^T / sqrt(Hd)) v, o_proj.
std::vector<float> qwen3_attention_ref(const TinyAttention& a, const std::vector<float>& x,
                                       int64_t T) {
  Vec q = linear_ref(a.wq, a.bq, x, T), k = linear_ref(a.wk, a.bk, x, T),
      v = linear_ref(a.wv, a.bv, x, T);
  auto norm_heads = [&](Vec& y, int64_t heads, const Tensor& w) {
    for (int64_t r = 0; r < T * heads; ++r) {
      double ss = 0;
      for (int64_t i = 0; i < kHd; ++i) ss += y[size_t(r * kHd + i)] * y[size_t(r * kHd + i)];
      const double inv = 1.0 / std::sqrt(ss / double(kHd) + double(kEps));
      for (int64_t i = 0; i < kHd; ++i) y[size_t(r * kHd + i)] *= inv * w.data<float>()[i];
    }
  };
  norm_heads(q, kH, a.q_norm);
  norm_heads(k, kHkv, a.k_norm);
  auto rope = [&](Vec& y, int64_t heads) {
    const int64_t half = kHd / 2;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < heads; ++h) {
        double* p = y.data() + (t * heads + h) * kHd;
        for (int64_t i = 0; i < half; ++i) {
          const double inv_freq = 1.0 / std::pow(1000000.0, double(2 * i) / double(kHd));
          const double c = std::cos(double(t) * inv_freq), s = std::sin(double(t) * inv_freq);
          const double x1 = p[i], x2 = p[i + half];
          p[i] = x1 * c - x2 * s;
          p[i + half] = x2 * c + x1 * s;
        }
      }
  };
  rope(q, kH);
  rope(k, kHkv);
  std::vector<float> attn(size_t(T * kH * kHd));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < kH; ++h) {
      const int64_t g = h / (kH / kHkv);
      Vec sc(size_t(t + 1));
      double mx = -1e300;
      for (int64_t s = 0; s <= t; ++s) {
        double d = 0;
        for (int64_t i = 0; i < kHd; ++i)
          d += q[size_t((t * kH + h) * kHd + i)] * k[size_t((s * kHkv + g) * kHd + i)];
        sc[size_t(s)] = d / std::sqrt(double(kHd));
        mx = std::max(mx, sc[size_t(s)]);
      }
      double z = 0;
      for (auto& e : sc) z += (e = std::exp(e - mx));
      for (int64_t i = 0; i < kHd; ++i) {
        double o = 0;
        for (int64_t s = 0; s <= t; ++s) o += sc[size_t(s)] / z * v[size_t((s * kHkv + g) * kHd + i)];
        attn[size_t((t * kH + h) * kHd + i)] = float(o);
      }
    }
  Vec out = linear_ref(a.wo, a.bo, attn, T);
  return std::vector<float>(out.begin(), out.end());
}

std::vector<float> rand_vec(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// One sequence of T rows at positions p0.. of caches kc/vc (one span).
void attend_one(const GqaAttention& attn, Context& ctx, const float* x, int64_t T, int64_t p0,
                const int32_t* pos, float* kc, float* vc, float* out, float* scratch) {
  const GqaAttention::Span sp{0, T, p0, kc, vc};
  attn.forward(ctx, x, T, pos, {&sp, 1}, out, scratch);
}

// B sequences of T rows each at positions 0.. without caches.
void attend_rows(const GqaAttention& attn, Context& ctx, const float* x, int64_t B, int64_t T,
                 const int32_t* pos, float* out, float* scratch) {
  std::vector<GqaAttention::Span> spans;
  for (int64_t b = 0; b < B; ++b) spans.push_back({b * T, T, 0, nullptr, nullptr});
  attn.forward(ctx, x, B * T, pos, spans, out, scratch);
}

// Inference prefill of one sequence (fresh cache) -> out [T, D].
std::vector<float> prefill(const GqaAttention& attn, ThreadPool& pool, const std::vector<float>& x,
                           int64_t T) {
  Context ctx{pool};
  std::vector<float> kc(size_t(T * attn.kv_width())), vc(kc.size()), out(size_t(T * kD)),
      scratch(size_t(attn.scratch_floats(T)));
  std::vector<int32_t> pos(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) pos[size_t(t)] = int32_t(t);
  attend_one(attn, ctx, x.data(), T, 0, pos.data(), kc.data(), vc.data(), out.data(), scratch.data());
  return out;
}

TEST(GqaAttention, QkNormMatchesQwen3Reference) {
  ThreadPool pool(1);
  TinyAttention a = make_attention(1);
  ASSERT_TRUE(a.attn.has_qk_norm());
  EXPECT_EQ(a.attn.n_params(), a.wq.numel() + a.bq.numel() + a.wk.numel() + a.bk.numel() +
                                   a.wv.numel() + a.bv.numel() + a.wo.numel() + a.bo.numel() +
                                   2 * kHd);
  const int64_t T = 6;
  const auto x = rand_vec(size_t(T * kD), 2);
  const auto want = qwen3_attention_ref(a, x, T);
  const auto got = prefill(a.attn, pool, x, T);
  double max_diff = 0;
  for (size_t i = 0; i < got.size(); ++i)
    max_diff = std::max(max_diff, double(std::fabs(got[i] - want[i])));
  EXPECT_LT(max_diff, 1e-4);

  // The norm matters: the same block without it differs.
  GqaAttention plain(Linear(a.wq, a.bq), Linear(a.wk, a.bk), Linear(a.wv, a.bv),
                     Linear(a.wo, a.bo), &a.rope, kH, kHkv, kHd);
  const auto no_norm = prefill(plain, pool, x, T);
  double gap = 0;
  for (size_t i = 0; i < got.size(); ++i) gap = std::max(gap, double(std::fabs(no_norm[i] - want[i])));
  EXPECT_GT(gap, 1e-2);

  // Batched training rows (2 sequences, no tape) and batched decode equal per-sequence prefill.
  const auto x2 = rand_vec(size_t(T * kD), 3);
  std::vector<float> xb(x);
  xb.insert(xb.end(), x2.begin(), x2.end());
  std::vector<int32_t> pos(size_t(2 * T));
  for (int64_t i = 0; i < 2 * T; ++i) pos[size_t(i)] = int32_t(i % T);
  std::vector<float> rows(size_t(2 * T * kD)), scratch(size_t(a.attn.scratch_floats(2 * T)));
  Context ctx{pool};
  attend_rows(a.attn, ctx, xb.data(), 2, T, pos.data(), rows.data(), scratch.data());
  const auto want2 = prefill(a.attn, pool, x2, T);
  for (int64_t i = 0; i < T * kD; ++i) {
    ASSERT_NEAR(rows[size_t(i)], got[size_t(i)], 1e-5) << i;
    ASSERT_NEAR(rows[size_t(T * kD + i)], want2[size_t(i)], 1e-5) << i;
  }
  // Decode: both sequences prefilled with T-1 tokens, then their last token in one batch.
  const int64_t kvw = a.attn.kv_width();
  std::vector<float> kc0(size_t(T * kvw)), vc0(kc0.size()), kc1(kc0.size()), vc1(kc0.size());
  std::vector<float> pre(size_t(T * kD)), sc(size_t(a.attn.scratch_floats(T)));
  attend_one(a.attn, ctx, x.data(), T - 1, 0, pos.data(), kc0.data(), vc0.data(), pre.data(), sc.data());
  attend_one(a.attn, ctx, x2.data(), T - 1, 0, pos.data(), kc1.data(), vc1.data(), pre.data(), sc.data());
  std::vector<float> last(x.end() - kD, x.end());
  last.insert(last.end(), x2.end() - kD, x2.end());
  const int32_t dpos[2] = {int32_t(T - 1), int32_t(T - 1)};
  const GqaAttention::Span dspans[2] = {{0, 1, T - 1, kc0.data(), vc0.data()},
                                        {1, 1, T - 1, kc1.data(), vc1.data()}};
  std::vector<float> dec(size_t(2 * kD)), dsc(size_t(a.attn.scratch_floats(2)));
  a.attn.forward(ctx, last.data(), 2, dpos, dspans, dec.data(), dsc.data());
  for (int64_t i = 0; i < kD; ++i) {
    EXPECT_NEAR(dec[size_t(i)], got[size_t((T - 1) * kD + i)], 1e-5) << i;
    EXPECT_NEAR(dec[size_t(kD + i)], want2[size_t((T - 1) * kD + i)], 1e-5) << i;
  }
}

double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += double(a[i]) * b[i];
  return s;
}

double rel_l2(const std::vector<double>& a, const std::vector<double>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += b[i] * b[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

// L = sum(out * R). The tape's gradients (training forward through forward() and through
// sequences without caches, B = 2) against central differences of the inference forward, for
// every entry of q_norm, k_norm and the input, and for the q/k projection weights and biases
// (whose gradient reaches them only through the norm).
TEST(GqaAttention, QkNormBackwardMatchesFiniteDifferences) {
  ThreadPool pool(1);
  for (int64_t B : {1, 2}) {
    TinyAttention a = make_attention(5);
    const int64_t T = 5, n = B * T;
    std::vector<float> x = rand_vec(size_t(n * kD), 6);
    const std::vector<float> R = rand_vec(size_t(n * kD), 7);
    std::vector<int32_t> pos(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pos[size_t(i)] = int32_t(i % T);
    auto run = [&](autograd::Tape* tape) {
      Context ctx{pool, tape};
      std::vector<float> out(size_t(n * kD));
      if (B == 1) {
        std::vector<float> kc(size_t(T * a.attn.kv_width())), vc(kc.size()),
            scratch(size_t(a.attn.scratch_floats(T)));
        attend_one(a.attn, ctx, x.data(), T, 0, pos.data(), kc.data(), vc.data(), out.data(),
                   scratch.data());
        if (tape != nullptr) {  // the caches are saved by the nodes: keep them to backward()
          std::copy(R.begin(), R.end(), tape->grad(out.data(), n * kD));
          tape->backward();
        }
      } else {
        std::vector<float> scratch(size_t(a.attn.scratch_floats(n)));
        attend_rows(a.attn, ctx, x.data(), B, T, pos.data(), out.data(), scratch.data());
        if (tape != nullptr) {
          std::copy(R.begin(), R.end(), tape->grad(out.data(), n * kD));
          tape->backward();
        }
      }
      return out;
    };
    struct Checked {
      const char* name;
      float* data;
      int64_t n;          // entries of the tensor
      int64_t n_checked;  // leading entries compared with finite differences
    };
    const std::vector<Checked> checked = {
        {"q_norm", a.q_norm.data<float>(), kHd, kHd},
        {"k_norm", a.k_norm.data<float>(), kHd, kHd},
        {"x", x.data(), n * kD, n * kD},
        {"q_proj.bias", a.bq.data<float>(), kH * kHd, kH * kHd},
        {"k_proj.bias", a.bk.data<float>(), kHkv * kHd, kHkv * kHd},
        {"k_proj.weight", a.wk.data<float>(), a.wk.numel(), 64}};
    autograd::Tape tape;
    std::vector<std::vector<float>> grads;
    for (const auto& c : checked) {
      grads.emplace_back(size_t(c.n), 0.0f);
      if (c.data != x.data()) tape.add_param(c.data, c.n, grads.back().data());
    }
    run(&tape);
    // The input's gradient: read from the tape after backward (x is not a parameter).
    const float* gx = tape.grad_if(x.data());
    ASSERT_NE(gx, nullptr);
    std::copy(gx, gx + n * kD, grads[2].begin());
    tape.clear();
    for (size_t c = 0; c < checked.size(); ++c) {
      std::vector<double> fd(size_t(checked[c].n_checked)), an(fd.size());
      for (int64_t i = 0; i < checked[c].n_checked; ++i) {
        float* w = checked[c].data + i;
        const float w0 = *w, h = 2e-3f;
        *w = w0 + h;
        const double lp = dot(run(nullptr), R);
        *w = w0 - h;
        const double lm = dot(run(nullptr), R);
        *w = w0;
        fd[size_t(i)] = (lp - lm) / (2.0 * double(h));
        an[size_t(i)] = grads[c][size_t(i)];
      }
      EXPECT_LT(rel_l2(an, fd), 5e-3) << checked[c].name << " B=" << B;
    }
  }
}

}  // namespace
}  // namespace r1::nn
