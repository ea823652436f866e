// Elementwise and row-wise CPU kernels of the transformer forward: RMSNorm, softmax, SiLU/SwiGLU,
// argmax and top-k. All work on raw contiguous f32 arrays with explicit sizes (no Tensor), so
// nn/ and models/ can call them on any buffer. Each has a `*_ref` scalar twin for the tests
// where the fast version differs from the obvious loop.
#pragma once
#include <cstdint>

namespace r1::kernels {

/// RMSNorm as HF LlamaRMSNorm / Qwen2RMSNorm, all in f32:
///   out[t, :] = x[t, :] * rsqrt(mean(x[t, :]^2) + eps) * weight[:].
/// x: [T, D], weight: [D], out: [T, D] (may alias x). Cost O(T*D).
void rmsnorm(const float* x, const float* weight, float eps, float* out, int64_t T, int64_t D);
/// Scalar reference of rmsnorm (sum of squares in f64).
void rmsnorm_ref(const float* x, const float* weight, float eps, float* out, int64_t T, int64_t D);

/// Numerically stable softmax of one row in place: x[i] = exp(x[i] - max) / sum_j exp(x[j] - max).
/// x: [n], n >= 1. -inf entries get 0 (a row of all -inf is undefined: NaN).
void softmax(float* x, int64_t n);
/// Scalar reference of softmax (f64 accumulation).
void softmax_ref(float* x, int64_t n);

/// SiLU (swish): out[i] = x[i] / (1 + exp(-x[i])). x, out: [n] (may alias).
void silu(const float* x, float* out, int64_t n);

/// SwiGLU gating of the Llama/Qwen2/DeepSeek MLP: out[i] = silu(gate[i]) * up[i].
/// gate, up, out: [n] (out may alias gate or up). For [T, F] buffers pass n = T*F.
void swiglu(const float* gate, const float* up, float* out, int64_t n);
/// Scalar references of silu and swiglu (f64).
void silu_ref(const float* x, float* out, int64_t n);
void swiglu_ref(const float* gate, const float* up, float* out, int64_t n);

/// Index of the largest element of x[n] (n >= 1); ties go to the lower index; NaN is ignored
/// unless every element is NaN (then 0).
int64_t argmax(const float* x, int64_t n);

/// The k largest elements of x[n] in descending order (ties: lower index first), 1 <= k <= n.
/// idx: [K] int32 positions in x, val: [K] their values (val may be null). Cost O(n log k).
/// Used for MoE expert routing (K = num_experts_per_tok) and top-k sampling.
void top_k(const float* x, int64_t n, int64_t k, int32_t* idx, float* val);
/// Scalar reference of top_k: a full stable sort, O(n log n).
void top_k_ref(const float* x, int64_t n, int64_t k, int32_t* idx, float* val);

}  // namespace r1::kernels
