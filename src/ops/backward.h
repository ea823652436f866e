// Backward rules of the differentiable primitives the nn/ blocks are built from, over raw f32
// buffers. Every function ACCUMULATES (+=) into its gradient outputs, so a buffer used twice (a
// tied embedding, a residual read by two branches) sums its gradients; a null gradient output is
// skipped. Large products go to OpenBLAS sgemm. Each rule is checked against central finite
// differences in ops_test.cpp.
#pragma once
#include <cstdint>

#include "kernels/attention.h"
#include "kernels/rope.h"

namespace r1::ops {

/// y[T, N] = x[T, K] W[N, K]^T + b:  dx += dy W,  dW += dy^T x,  db += sum_t dy.
void linear_backward(const float* W, const float* x, const float* dy, float* dx, float* dW,
                     float* db, int64_t T, int64_t N, int64_t K);

/// y = x * rsqrt(mean(x^2) + eps) * w per row of D (HF LlamaRMSNorm).
/// dx += r*w*dy - x * r^3 / D * sum(dy*w*x);  dw += sum_t dy*x*r.
void rmsnorm_backward(const float* x, const float* w, float eps, const float* dy, float* dx,
                      float* dw, int64_t T, int64_t D);

/// RoPE is a rotation (times attention_factor): its vector-Jacobian product rotates by the
/// opposite angle. Transforms the gradient g (same layout/strides as kernels::rope_apply) IN PLACE
/// from d/d(rotated) to d/d(unrotated).
void rope_backward(const kernels::RopeTable& table, kernels::RopeLayout layout, float* g,
                   int64_t T, int64_t H, int64_t token_stride, int64_t head_stride,
                   const int32_t* positions);

/// Causal GQA attention (kernels::attention, same params and layouts; softmax recomputed from q
/// and k): with P = softmax(scale q k^T + mask), O = P v:
///   dv += P^T dO, dS = P * (dO v^T - rowsum(dO * O)), dq += scale dS k, dk += scale dS^T q.
/// dq: [T, H, Hd_k] (dense), dk/dv: the same layouts (strides) as k/v. Any of dq/dk/dv may be null.
void attention_backward(const kernels::AttentionParams& p, const float* q, const float* k,
                        const float* v, const float* dout, float* dq, float* dk, float* dv);

/// out = silu(g) * u elementwise:  dg += dout * u * s (1 + g (1 - s)),  du += dout * silu(g).
void swiglu_backward(const float* g, const float* u, const float* dout, float* dg, float* du,
                     int64_t n);

/// out[t] = W[ids[t]]:  dW[ids[t]] += dy[t]  (rows of D).
void embedding_backward(const int32_t* ids, const float* dy, float* dW, int64_t T, int64_t D);

/// Cross-entropy of logits [T, V] against targets [T] (natural log). Targets < 0 are ignored
/// (HF's ignore_index -100: prompt masking). Returns the SUM of -log softmax(logits[t])[target]
/// over the counted rows and sets *count to their number. If dlogits is non-null, writes (not
/// accumulates) dlogits = (softmax - onehot) * grad_scale on counted rows and 0 on ignored rows.
/// Checks targets < V.
double cross_entropy(const float* logits, const int32_t* targets, int64_t T, int64_t V,
                     int64_t* count, float* dlogits, float grad_scale);

}  // namespace r1::ops
