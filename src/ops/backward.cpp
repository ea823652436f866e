#include "ops/backward.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/check.h"
#include "kernels/ops.h"
#include "kernels/ops_detail.h"

namespace r1::ops {

void linear_backward(const float* W, const float* x, const float* dy, float* dx, float* dW,
                     float* db, int64_t T, int64_t N, int64_t K) {
  if (T == 0) return;
  if (dx != nullptr)  // dx[T, K] += dy[T, N] W[N, K]
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(K), int(N), 1.0f, dy,
                int(N), W, int(K), 1.0f, dx, int(K));
  if (dW != nullptr)  // dW[N, K] += dy^T[N, T] x[T, K]
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(N), int(K), int(T), 1.0f, dy, int(N),
                x, int(K), 1.0f, dW, int(K));
  if (db != nullptr)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = 0; n < N; ++n) db[n] += dy[t * N + n];
}

void rmsnorm_backward(const float* x, const float* w, float eps, const float* dy, float* dx,
                      float* dw, int64_t T, int64_t D) {
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * D;
    const float* gt = dy + t * D;
    double ss = 0, dot = 0;
    for (int64_t i = 0; i < D; ++i) {
      ss += double(xt[i]) * xt[i];
      dot += double(gt[i]) * w[i] * xt[i];
    }
    const double r = 1.0 / std::sqrt(ss / double(D) + double(eps));
    if (dw != nullptr)
      for (int64_t i = 0; i < D; ++i) dw[i] += float(double(gt[i]) * xt[i] * r);
    if (dx != nullptr) {
      const double c = dot * r * r * r / double(D);
      float* dt = dx + t * D;
      for (int64_t i = 0; i < D; ++i) dt[i] += float(r * gt[i] * w[i] - c * xt[i]);
    }
  }
}

void rope_backward(const kernels::RopeTable& table, kernels::RopeLayout layout, float* g,
                   int64_t T, int64_t H, int64_t token_stride, int64_t head_stride,
                   const int32_t* positions) {
  // The rotation by angle -theta is the transpose of the rotation by theta; the attention
  // factor multiplies both cos and sin, so it carries over unchanged.
  std::vector<int32_t> neg(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t) neg[size_t(t)] = -positions[t];
  kernels::rope_apply(table, layout, g, T, H, token_stride, head_stride, neg.data());
}

void attention_backward(const kernels::AttentionParams& p, const float* q, const float* k,
                        const float* v, const float* dout, float* dq, float* dk, float* dv) {
  R1_CHECK(p.H > 0 && p.Hkv > 0 && p.H % p.Hkv == 0 && p.Hd_k > 0 && p.Hd_v > 0,
           "attention_backward: bad heads H={} Hkv={}", p.H, p.Hkv);
  const int64_t T = p.T, S = p.p0 + p.T, H = p.H, G = p.H / p.Hkv;
  const int64_t Hk = p.Hd_k, Hv = p.Hd_v;
  const int64_t ks = p.k_pos_stride ? p.k_pos_stride : p.Hkv * Hk;
  const int64_t vs = p.v_pos_stride ? p.v_pos_stride : p.Hkv * Hv;
  // Per-thread scratch, every element written by the GEMMs below before it is read (training
  // calls this per head-row block thousands of times per step: no allocation, no zero-fill).
  thread_local std::vector<float> P, dP, O;
  P.resize(size_t(T * S));
  dP.resize(size_t(T * S));
  O.resize(size_t(T * Hv));
  for (int64_t h = 0; h < H; ++h) {
    const int64_t g = h / G;
    const float* qh = q + h * Hk;          // [T, Hk] ld H*Hk
    const float* kg = k + g * Hk;          // [S, Hk] ld ks
    const float* vg = v + g * Hv;          // [S, Hv] ld vs
    const float* doh = dout + h * Hv;      // [T, Hv] ld H*Hv
    // P = softmax(scale q k^T) with the causal mask (row t sees 0 .. p0 + t).
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(S), int(Hk), p.scale, qh,
                int(H * Hk), kg, int(ks), 0.0f, P.data(), int(S));
    for (int64_t t = 0; t < T; ++t) {
      float* row = P.data() + t * S;
      const int64_t n = p.p0 + t + 1;
      kernels::softmax(row, n);  // SIMD, as the forward's attention rows
      for (int64_t j = n; j < S; ++j) row[j] = 0.0f;
    }
    // O = P v (recomputed; needed for rowsum(dO * O)), dP = dO v^T.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(Hv), int(S), 1.0f, P.data(),
                int(S), vg, int(vs), 0.0f, O.data(), int(Hv));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(T), int(S), int(Hv), 1.0f, doh,
                int(H * Hv), vg, int(vs), 0.0f, dP.data(), int(S));
    if (dv != nullptr)  // dv_g[S, Hv] += P^T dO
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(S), int(Hv), int(T), 1.0f, P.data(),
                  int(S), doh, int(H * Hv), 1.0f, dv + g * Hv, int(vs));
    for (int64_t t = 0; t < T; ++t) {
      double d = 0;
      for (int64_t i = 0; i < Hv; ++i) d += double(doh[t * H * Hv + i]) * O[size_t(t * Hv + i)];
      float* pr = P.data() + t * S;
      float* dpr = dP.data() + t * S;
      for (int64_t j = 0; j < S; ++j) dpr[j] = pr[j] * (dpr[j] - float(d));  // dS (unscaled)
    }
    if (dq != nullptr)  // dq_h[T, Hk] += scale dS k
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, int(T), int(Hk), int(S), p.scale,
                  dP.data(), int(S), kg, int(ks), 1.0f, dq + h * Hk, int(H * Hk));
    if (dk != nullptr)  // dk_g[S, Hk] += scale dS^T q
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, int(S), int(Hk), int(T), p.scale,
                  dP.data(), int(S), qh, int(H * Hk), 1.0f, dk + g * Hk, int(ks));
  }
}

void swiglu_backward(const float* g, const float* u, const float* dout, float* dg, float* du,
                     int64_t n) {
  if (dg != nullptr && du != nullptr) {  // the training case: SIMD (Highway exp)
    kernels::detail::swiglu_backward_simd(g, u, dout, dg, du, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    const float s = 1.0f / (1.0f + std::exp(-g[i]));
    if (du != nullptr) du[i] += dout[i] * g[i] * s;
    if (dg != nullptr) dg[i] += dout[i] * u[i] * s * (1.0f + g[i] * (1.0f - s));
  }
}

void embedding_backward(const int32_t* ids, const float* dy, float* dW, int64_t T, int64_t D) {
  for (int64_t t = 0; t < T; ++t) {
    float* row = dW + int64_t(ids[t]) * D;
    const float* g = dy + t * D;
    for (int64_t i = 0; i < D; ++i) row[i] += g[i];
  }
}

double cross_entropy(const float* logits, const int32_t* targets, int64_t T, int64_t V,
                     int64_t* count, float* dlogits, float grad_scale) {
  double total = 0;
  int64_t n = 0;
  thread_local std::vector<double> e;
  e.resize(size_t(V));
  for (int64_t t = 0; t < T; ++t) {
    const float* row = logits + t * V;
    float* drow = dlogits ? dlogits + t * V : nullptr;
    const int32_t y = targets[t];
    if (y < 0) {
      if (drow) std::fill(drow, drow + V, 0.0f);
      continue;
    }
    R1_CHECK(y < V, "target id {} out of range [0, {})", y, V);
    float mx = row[0];
    for (int64_t i = 1; i < V; ++i) mx = std::max(mx, row[i]);
    // One exp per logit: softmax_i = e_i / sum (kept in f64 between the two passes).
    double sum = 0;
    for (int64_t i = 0; i < V; ++i) sum += (e[size_t(i)] = std::exp(double(row[i] - mx)));
    const double lse = double(mx) + std::log(sum);
    total += lse - double(row[y]);
    ++n;
    if (drow) {
      const double inv = 1.0 / sum;
      for (int64_t i = 0; i < V; ++i) drow[i] = float(e[size_t(i)] * inv) * grad_scale;
      drow[y] -= grad_scale;
    }
  }
  if (count) *count = n;
  return total;
}

}  // namespace r1::ops
