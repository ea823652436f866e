// Causal scaled-dot-product attention with grouped-query heads over an f32 KV cache, for prefill
// (T > 1) and decode (T = 1). The K and V head dims may differ (DeepSeek-V3 MLA: qk 192, v 128;
// absorbed MLA: K = [c_kv, k_pe] 576 and V = c_kv 512 inside the same rows, via the strides).
#pragma once
#include <cstdint>

#include "core/thread_pool.h"

namespace r1::kernels {

/// Shapes and layout of one attention call.
///  q:   [T, H, Hd_k]            (query token t is at absolute position p0 + t)
///  k:   [S, Hkv, Hd_k] rows `k_pos_stride` floats apart (0 => Hkv * Hd_k), heads Hd_k apart
///  v:   [S, Hkv, Hd_v] rows `v_pos_stride` floats apart (0 => Hkv * Hd_v), heads Hd_v apart
///  out: [T, H, Hd_v]
/// Query head h uses kv head h / (H / Hkv) (HF repeat_kv order). Token t attends cache
/// positions 0 .. p0 + t (causal), so the cache must hold S >= p0 + T positions.
struct AttentionParams {
  int64_t T = 1, H = 1, Hkv = 1, Hd_k = 0, Hd_v = 0;
  int64_t p0 = 0;           // absolute position of query token 0
  float scale = 1.0f;       // usually 1/sqrt(Hd_k) (times YaRN mscale^2 for DeepSeek-V3)
  int64_t k_pos_stride = 0;
  int64_t v_pos_stride = 0;
};

/// out = softmax(scale * q k^T + causal mask) v, per head; threaded over (token, head) pairs.
/// Checks H % Hkv == 0 and positive dims. Scratch: O(p0 + T) floats per thread.
void attention(const AttentionParams& p, const float* q, const float* k, const float* v,
               float* out, ThreadPool& pool);

/// Scalar reference: the same in f64, single thread.
void attention_ref(const AttentionParams& p, const float* q, const float* k, const float* v,
                   float* out);

}  // namespace r1::kernels
