// Highway (runtime-dispatched) bodies of the row-wise kernels in ops.h and attention.h. Internal:
// models call the public functions, tests compare both with the scalar references.
#pragma once
#include <cstdint>

namespace r1::kernels::detail {

/// out[i] = silu(gate[i]) * up[i]; up == nullptr means plain silu(gate[i]).
void swiglu_simd(const float* gate, const float* up, float* out, int64_t n);
/// Backward of out = silu(gate) * up, accumulated into dg and du (both non-null).
void swiglu_backward_simd(const float* gate, const float* up, const float* dout, float* dg,
                          float* du, int64_t n);
/// Stable softmax of x[n] in place.
void softmax_simd(float* x, int64_t n);
/// RMSNorm of T rows of D.
void rmsnorm_simd(const float* x, const float* weight, float eps, float* out, int64_t T, int64_t D);
/// One (token, head) of attention: scores[s] = scale * q . k_s for s < n (k_s = k + s * ks),
/// softmax, out[Hd_v] = sum_s p_s v_s (v_s = v + s * vs). scores: scratch of n floats.
void attention_row_simd(const float* q, const float* k, int64_t ks, const float* v, int64_t vs,
                        int64_t n, int64_t hd_k, int64_t hd_v, float scale, float* scores,
                        float* out);

}  // namespace r1::kernels::detail
