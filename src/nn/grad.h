// Training hooks of the nn/ blocks: when nn::Context::tape is set, each block's forward calls one
// of these to record a coarse node whose backward applies the matching rule of ops/backward.h.
// Saved inputs are the block's own input/output buffers, which the models allocate fresh from
// the tape while training (activation_buffer), so nothing is overwritten before backward.
// Training needs F32 weights (the master copy the optimizer updates); other dtypes fail a check.
#pragma once
#include <cstdint>

#include "autograd/tape.h"
#include "kernels/attention.h"
#include "kernels/rope.h"
#include "nn/context.h"

namespace r1::nn {

class Linear;
class RMSNorm;
class Embedding;

/// A buffer of n floats for an activation: fresh from the tape while training (kept until the
/// tape is cleared), else `scratch` (the inference path's reused buffer).
float* activation_buffer(Context& ctx, int64_t n, float* scratch);

/// Residual x + y over n floats. Inference: in place into x, returns x. Training: into a new
/// tape buffer (x is saved by the norm before it), records the node, returns the new buffer.
float* residual_add(Context& ctx, float* x, const float* y, int64_t n);

/// Strided row copy dst[t*dst_stride + i] = src[t*src_stride + i] (i < n, t < T), recorded when
/// training (dsrc += ddst). Used for splits/concatenations (MLA cache rows, MTP input).
void copy_rows(Context& ctx, const float* src, int64_t src_stride, float* dst, int64_t dst_stride,
               int64_t n, int64_t T);

/// y[T, N] = x W^T + b was computed: records dx, dW, db.
void record_linear(Context& ctx, const Linear& l, const float* x, const float* y, int64_t T);
/// out = rmsnorm(x) * w was computed (x and out must not alias while training).
void record_rmsnorm(Context& ctx, const RMSNorm& n, const float* x, const float* out, int64_t T);
/// out[t] = W[ids[t]] was computed (ids are copied).
void record_embedding(Context& ctx, const Embedding& e, const int32_t* ids, const float* out,
                      int64_t T);
/// x was rotated in place by kernels::rope_apply with these arguments (positions are copied).
void record_rope(Context& ctx, const kernels::RopeTable* table, kernels::RopeLayout layout,
                 float* x, int64_t T, int64_t H, int64_t token_stride, int64_t head_stride,
                 const int32_t* positions);
/// out = kernels::attention(p, q, k, v) was computed.
void record_attention(Context& ctx, const kernels::AttentionParams& p, const float* q,
                      const float* k, const float* v, const float* out);
/// out = silu(g) * u over n floats was computed (out must not alias g or u while training).
void record_swiglu(Context& ctx, const float* g, const float* u, const float* out, int64_t n);

}  // namespace r1::nn
