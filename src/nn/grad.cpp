#include "nn/grad.h"

#include <algorithm>
#include <vector>

#include "nn/linear.h"
#include "nn/norm.h"
#include "ops/backward.h"

namespace r1::nn {

namespace {

const float* f32_param(const Tensor& t, const char* what) {
  R1_CHECK(t.dtype() == DType::F32, "training needs F32 {} weights, got {}", what,
           dtype_name(t.dtype()));
  return t.data<float>();
}

}  // namespace

float* activation_buffer(Context& ctx, int64_t n, float* scratch) {
  return ctx.tape != nullptr ? ctx.tape->alloc(n) : scratch;
}

float* residual_add(Context& ctx, float* x, const float* y, int64_t n) {
  if (ctx.tape == nullptr) {
    add_inplace(ctx, x, y, n);
    return x;
  }
  autograd::Tape* tape = ctx.tape;
  float* out = tape->alloc(n);
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] + y[i];
  tape->record([tape, x, y, out, n] {
    const float* g = tape->grad_if(out);
    if (g == nullptr) return;
    float* gx = tape->grad(x, n);
    for (int64_t i = 0; i < n; ++i) gx[i] += g[i];
    float* gy = tape->grad(y, n);
    for (int64_t i = 0; i < n; ++i) gy[i] += g[i];
  });
  return out;
}

void copy_rows(Context& ctx, const float* src, int64_t src_stride, float* dst, int64_t dst_stride,
               int64_t n, int64_t T) {
  for (int64_t t = 0; t < T; ++t)
    std::copy(src + t * src_stride, src + t * src_stride + n, dst + t * dst_stride);
  autograd::Tape* tape = ctx.tape;
  if (tape == nullptr) return;
  tape->record([=] {
    const float* g = tape->grad_if(dst);
    if (g == nullptr) return;
    float* gs = tape->grad(src, (T - 1) * src_stride + n);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < n; ++i) gs[t * src_stride + i] += g[t * dst_stride + i];
  });
}

void record_linear(Context& ctx, const Linear& l, const float* x, const float* y, int64_t T) {
  autograd::Tape* tape = ctx.tape;
  const float* W = f32_param(l.weight(), "linear");
  const float* b = l.has_bias() ? l.bias().data<float>() : nullptr;
  const int64_t N = l.out_features(), K = l.in_features();
  tape->record([tape, W, b, x, y, T, N, K] {
    const float* dy = tape->grad_if(y);
    if (dy == nullptr) return;
    ops::linear_backward(W, x, dy, tape->grad(x, T * K), tape->grad(W, N * K),
                         b ? tape->grad(b, N) : nullptr, T, N, K);
  });
}

void record_rmsnorm(Context& ctx, const RMSNorm& n, const float* x, const float* out, int64_t T) {
  autograd::Tape* tape = ctx.tape;
  R1_CHECK(x != out, "rmsnorm in place while training");
  const float* w = n.weight().data<float>();
  const int64_t D = n.dim();
  const float eps = n.eps();
  tape->record([tape, w, x, out, T, D, eps] {
    const float* dy = tape->grad_if(out);
    if (dy == nullptr) return;
    ops::rmsnorm_backward(x, w, eps, dy, tape->grad(x, T * D), tape->grad(w, D), T, D);
  });
}

void record_embedding(Context& ctx, const Embedding& e, const int32_t* ids, const float* out,
                      int64_t T) {
  autograd::Tape* tape = ctx.tape;
  const float* W = f32_param(e.weight(), "embedding");
  const int64_t V = e.vocab_size(), D = e.dim();
  std::vector<int32_t> saved(ids, ids + T);
  tape->record([tape, W, saved = std::move(saved), out, T, V, D] {
    const float* dy = tape->grad_if(out);
    if (dy == nullptr) return;
    ops::embedding_backward(saved.data(), dy, tape->grad(W, V * D), T, D);
  });
}

void record_rope(Context& ctx, const kernels::RopeTable* table, kernels::RopeLayout layout,
                 float* x, int64_t T, int64_t H, int64_t token_stride, int64_t head_stride,
                 const int32_t* positions) {
  autograd::Tape* tape = ctx.tape;
  std::vector<int32_t> pos(positions, positions + T);
  tape->record([=, pos = std::move(pos)] {
    float* g = tape->grad_if(x);
    if (g == nullptr) return;
    ops::rope_backward(*table, layout, g, T, H, token_stride, head_stride, pos.data());
  });
}

void record_attention(Context& ctx, const kernels::AttentionParams& p, const float* q,
                      const float* k, const float* v, const float* out) {
  autograd::Tape* tape = ctx.tape;
  tape->record([tape, p, q, k, v, out] {
    const float* dout = tape->grad_if(out);
    if (dout == nullptr) return;
    const int64_t S = p.p0 + p.T;
    const int64_t ks = p.k_pos_stride ? p.k_pos_stride : p.Hkv * p.Hd_k;
    const int64_t vs = p.v_pos_stride ? p.v_pos_stride : p.Hkv * p.Hd_v;
    // The gradient slices span the rows read: (S - 1) strides plus the last row's heads.
    float* dk = tape->grad(k, (S - 1) * ks + p.Hkv * p.Hd_k);
    float* dv = tape->grad(v, (S - 1) * vs + p.Hkv * p.Hd_v);
    ops::attention_backward(p, q, k, v, dout, tape->grad(q, p.T * p.H * p.Hd_k), dk, dv);
  });
}

void record_swiglu(Context& ctx, const float* g, const float* u, const float* out, int64_t n) {
  autograd::Tape* tape = ctx.tape;
  R1_CHECK(out != g && out != u, "swiglu in place while training");
  tape->record([tape, g, u, out, n] {
    const float* dout = tape->grad_if(out);
    if (dout == nullptr) return;
    ops::swiglu_backward(g, u, dout, tape->grad(g, n), tape->grad(u, n), n);
  });
}

}  // namespace r1::nn
