// SIMD bodies of RMSNorm, softmax, SiLU/SwiGLU and one attention row (Highway, dispatched at
// run time). exp is Highway's contrib Exp (max error 1 ulp, valid for x <= 104; arguments are
// clamped to 88 where they could exceed it).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops_hwy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <cmath>

#include "kernels/ops_detail.h"

HWY_BEFORE_NAMESPACE();
namespace r1::kernels::detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void SwigluImpl(const float* gate, const float* up, float* out, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f), cap = hn::Set(df, 88.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    // silu(g) = g / (1 + e^-g); e^-g capped at e^88 (finite), where silu(g) is ~0 anyway.
    auto s = hn::Div(g, hn::Add(one, hn::Exp(df, hn::Min(hn::Neg(g), cap))));
    if (up) s = hn::Mul(s, hn::LoadU(df, up + i));
    hn::StoreU(s, df, out + i);
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    const float s = g / (1.0f + std::exp(std::fmin(-g, 88.0f)));
    out[i] = up ? s * up[i] : s;
  }
}

// Backward of out = silu(g) * u, accumulated: du += dout * silu(g),
// dg += dout * u * s * (1 + g * (1 - s)) with s = sigmoid(g) (e^-g capped as in SwigluImpl).
void SwigluBackwardImpl(const float* gate, const float* up, const float* dout, float* dg,
                        float* du, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const auto one = hn::Set(df, 1.0f), cap = hn::Set(df, 88.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(df, gate + i);
    const auto d = hn::LoadU(df, dout + i);
    const auto s = hn::Div(one, hn::Add(one, hn::Exp(df, hn::Min(hn::Neg(g), cap))));
    const auto gs = hn::Mul(g, s);
    hn::StoreU(hn::MulAdd(d, gs, hn::LoadU(df, du + i)), df, du + i);
    // s * (1 + g * (1 - s)) = s + g*s - g*s*s
    const auto dsilu = hn::Add(s, hn::NegMulAdd(gs, s, gs));
    const auto t = hn::Mul(hn::Mul(d, hn::LoadU(df, up + i)), dsilu);
    hn::StoreU(hn::Add(hn::LoadU(df, dg + i), t), df, dg + i);
  }
  for (; i < n; ++i) {
    const float g = gate[i];
    const float s = 1.0f / (1.0f + std::exp(std::fmin(-g, 88.0f)));
    du[i] += dout[i] * g * s;
    dg[i] += dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
  }
}

HWY_INLINE float MaxOf(const float* x, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  float m = x[0];
  int64_t i = 0;
  if (n >= N) {
    auto vm = hn::LoadU(df, x);
    for (i = N; i + N <= n; i += N) vm = hn::Max(vm, hn::LoadU(df, x + i));
    m = hn::GetLane(hn::MaxOfLanes(df, vm));
  }
  for (; i < n; ++i) m = std::fmax(m, x[i]);
  return m;
}

// x[i] = exp(x[i] - m) (i < n); returns the sum.
HWY_INLINE float ExpShiftSum(float* x, int64_t n, float m) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const auto vm = hn::Set(df, m);
  auto vs = hn::Zero(df);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vm));
    hn::StoreU(e, df, x + i);
    vs = hn::Add(vs, e);
  }
  float s = hn::GetLane(hn::SumOfLanes(df, vs));
  for (; i < n; ++i) s += (x[i] = std::exp(x[i] - m));
  return s;
}

HWY_INLINE void Scale(float* x, int64_t n, float f) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  const auto vf = hn::Set(df, f);
  int64_t i = 0;
  for (; i + N <= n; i += N) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vf), df, x + i);
  for (; i < n; ++i) x[i] *= f;
}

void SoftmaxImpl(float* x, int64_t n) {
  const float m = MaxOf(x, n);
  const float s = ExpShiftSum(x, n, m);
  Scale(x, n, 1.0f / s);
}

HWY_INLINE float Dot(const float* a, const float* b, int64_t n) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  auto s0 = hn::Zero(df), s1 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 2 * N <= n; i += 2 * N) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + N), hn::LoadU(df, b + i + N), s1);
  }
  for (; i + N <= n; i += N) s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(s0, s1)));
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

void RmsnormImpl(const float* x, const float* w, float eps, float* out, int64_t T, int64_t D) {
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * D;
    float* ot = out + t * D;
    // The mean square as ggml's rms_norm forms it (f32 squares summed in f64, the mean rounded
    // to f32): its scale is then bit-identical to llama.cpp's, which matters downstream where
    // activations from a quantised embedding row sit on exact halves of the Q8 grid, and one
    // ulp of the scale decides their rounding. D multiply-adds per row: cheap next to a matmul.
    double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += double(xt[i] * xt[i]);
    const float mean = float(ss / double(D));
    const float r = 1.0f / std::sqrt(mean + eps);
    const auto vr = hn::Set(df, r);
    int64_t i = 0;
    for (; i + N <= D; i += N)
      hn::StoreU(hn::Mul(hn::Mul(hn::LoadU(df, xt + i), vr), hn::LoadU(df, w + i)), df, ot + i);
    for (; i < D; ++i) ot[i] = xt[i] * r * w[i];
  }
}

void AttentionRowImpl(const float* q, const float* k, int64_t ks, const float* v, int64_t vs,
                      int64_t n, int64_t hd_k, int64_t hd_v, float scale, float* scores,
                      float* out) {
  for (int64_t s = 0; s < n; ++s) scores[s] = Dot(q, k + s * ks, hd_k) * scale;
  SoftmaxImpl(scores, n);
  const hn::ScalableTag<float> df;
  const int64_t N = int64_t(hn::Lanes(df));
  // out = sum_s p_s v_s: 8 vectors of out stay in registers over all keys (a sweep per 8
  // vectors loads only v), the rest (hd_v not a multiple of 8 lanes) by load/FMA/store.
  int64_t i0 = 0;
  for (; i0 + 8 * N <= hd_v; i0 += 8 * N) {
    auto a0 = hn::Zero(df), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0;
    for (int64_t s = 0; s < n; ++s) {
      const auto vp = hn::Set(df, scores[s]);
      const float* vr = v + s * vs + i0;
      a0 = hn::MulAdd(vp, hn::LoadU(df, vr), a0);
      a1 = hn::MulAdd(vp, hn::LoadU(df, vr + N), a1);
      a2 = hn::MulAdd(vp, hn::LoadU(df, vr + 2 * N), a2);
      a3 = hn::MulAdd(vp, hn::LoadU(df, vr + 3 * N), a3);
      a4 = hn::MulAdd(vp, hn::LoadU(df, vr + 4 * N), a4);
      a5 = hn::MulAdd(vp, hn::LoadU(df, vr + 5 * N), a5);
      a6 = hn::MulAdd(vp, hn::LoadU(df, vr + 6 * N), a6);
      a7 = hn::MulAdd(vp, hn::LoadU(df, vr + 7 * N), a7);
    }
    float* o = out + i0;
    hn::StoreU(a0, df, o);
    hn::StoreU(a1, df, o + N);
    hn::StoreU(a2, df, o + 2 * N);
    hn::StoreU(a3, df, o + 3 * N);
    hn::StoreU(a4, df, o + 4 * N);
    hn::StoreU(a5, df, o + 5 * N);
    hn::StoreU(a6, df, o + 6 * N);
    hn::StoreU(a7, df, o + 7 * N);
  }
  if (i0 == hd_v) return;
  for (int64_t i = i0; i < hd_v; ++i) out[i] = 0.0f;
  for (int64_t s = 0; s < n; ++s) {
    const float p = scores[s];
    const float* vr = v + s * vs;
    const auto vp = hn::Set(df, p);
    int64_t i = i0;
    for (; i + N <= hd_v; i += N)
      hn::StoreU(hn::MulAdd(vp, hn::LoadU(df, vr + i), hn::LoadU(df, out + i)), df, out + i);
    for (; i < hd_v; ++i) out[i] += p * vr[i];
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace r1::kernels::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace r1::kernels::detail {

HWY_EXPORT(SwigluImpl);
HWY_EXPORT(SwigluBackwardImpl);
HWY_EXPORT(SoftmaxImpl);
HWY_EXPORT(RmsnormImpl);
HWY_EXPORT(AttentionRowImpl);

void swiglu_simd(const float* gate, const float* up, float* out, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SwigluImpl)(gate, up, out, n);
}
void swiglu_backward_simd(const float* gate, const float* up, const float* dout, float* dg,
                          float* du, int64_t n) {
  HWY_DYNAMIC_DISPATCH(SwigluBackwardImpl)(gate, up, dout, dg, du, n);
}
void softmax_simd(float* x, int64_t n) { HWY_DYNAMIC_DISPATCH(SoftmaxImpl)(x, n); }
void rmsnorm_simd(const float* x, const float* weight, float eps, float* out, int64_t T, int64_t D) {
  HWY_DYNAMIC_DISPATCH(RmsnormImpl)(x, weight, eps, out, T, D);
}
void attention_row_simd(const float* q, const float* k, int64_t ks, const float* v, int64_t vs,
                        int64_t n, int64_t hd_k, int64_t hd_v, float scale, float* scores,
                        float* out) {
  HWY_DYNAMIC_DISPATCH(AttentionRowImpl)(q, k, ks, v, vs, n, hd_k, hd_v, scale, scores, out);
}

}  // namespace r1::kernels::detail
#endif  // HWY_ONCE
