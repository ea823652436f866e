#include "kernels/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "kernels/ops_detail.h"

namespace r1::kernels {

namespace {

void check_params(const AttentionParams& p) {
  R1_CHECK(p.T > 0 && p.H > 0 && p.Hkv > 0 && p.Hd_k > 0 && p.Hd_v > 0 && p.p0 >= 0,
           "attention T={} H={} Hkv={} Hd_k={} Hd_v={} p0={}", p.T, p.H, p.Hkv, p.Hd_k, p.Hd_v,
           p.p0);
  R1_CHECK(p.H % p.Hkv == 0, "attention: {} query heads not a multiple of {} kv heads", p.H,
           p.Hkv);
}

int64_t k_stride(const AttentionParams& p) { return p.k_pos_stride ? p.k_pos_stride : p.Hkv * p.Hd_k; }
int64_t v_stride(const AttentionParams& p) { return p.v_pos_stride ? p.v_pos_stride : p.Hkv * p.Hd_v; }

}  // namespace

void attention(const AttentionParams& p, const float* q, const float* k, const float* v,
               float* out, ThreadPool& pool) {
  check_params(p);
  const int64_t group = p.H / p.Hkv, ks = k_stride(p), vs = v_stride(p);
  pool.parallel_for(p.T * p.H, 1, [&](int64_t b, int64_t e, int) {
    thread_local std::vector<float> scores;
    scores.resize(size_t(p.p0 + p.T));
    for (int64_t th = b; th < e; ++th) {
      const int64_t t = th / p.H, h = th % p.H, hk = h / group;
      detail::attention_row_simd(q + (t * p.H + h) * p.Hd_k, k + hk * p.Hd_k, ks, v + hk * p.Hd_v,
                                 vs, p.p0 + t + 1, p.Hd_k, p.Hd_v, p.scale, scores.data(),
                                 out + (t * p.H + h) * p.Hd_v);
    }
  });
}

void attention_ref(const AttentionParams& p, const float* q, const float* k, const float* v,
                   float* out) {
  check_params(p);
  const int64_t group = p.H / p.Hkv, ks = k_stride(p), vs = v_stride(p);
  std::vector<double> sc, acc;
  for (int64_t t = 0; t < p.T; ++t) {
    for (int64_t h = 0; h < p.H; ++h) {
      const int64_t hk = h / group, n = p.p0 + t + 1;
      sc.assign(size_t(n), 0.0);
      double m = -INFINITY;
      for (int64_t s = 0; s < n; ++s) {
        double d = 0;
        for (int64_t i = 0; i < p.Hd_k; ++i)
          d += double(q[(t * p.H + h) * p.Hd_k + i]) * k[s * ks + hk * p.Hd_k + i];
        sc[size_t(s)] = d * p.scale;
        m = std::max(m, sc[size_t(s)]);
      }
      double sum = 0;
      for (auto& x : sc) sum += (x = std::exp(x - m));
      acc.assign(size_t(p.Hd_v), 0.0);
      for (int64_t s = 0; s < n; ++s)
        for (int64_t i = 0; i < p.Hd_v; ++i)
          acc[size_t(i)] += sc[size_t(s)] / sum * v[s * vs + hk * p.Hd_v + i];
      for (int64_t i = 0; i < p.Hd_v; ++i) out[(t * p.H + h) * p.Hd_v + i] = float(acc[size_t(i)]);
    }
  }
}

}  // namespace r1::kernels
