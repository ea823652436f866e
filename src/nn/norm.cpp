#include "nn/norm.h"

#include "kernels/ops.h"
#include "nn/grad.h"
#include "quant/dequantize.h"

namespace r1::nn {

RMSNorm::RMSNorm(const Tensor& weight, float eps) : eps_(eps) {
  R1_CHECK(weight.ndim() == 1, "norm weight must be 1-d, got {}", weight.shape_str());
  weight_ = weight.dtype() == DType::F32 ? weight : quant::to_f32(weight);
}

void RMSNorm::forward(Context& ctx, const float* x, float* out, int64_t T) const {
  if (ctx.tape != nullptr) record_rmsnorm(ctx, *this, x, out, T);
  const int64_t D = dim();
  if (T < 8) {
    kernels::rmsnorm(x, weight_.data<float>(), eps_, out, T, D);
    return;
  }
  ctx.pool.parallel_for(T, 4, [&](int64_t b, int64_t e, int) {
    kernels::rmsnorm(x + b * D, weight_.data<float>(), eps_, out + b * D, e - b, D);
  });
}

Embedding::Embedding(Tensor weight) : weight_(std::move(weight)) {
  R1_CHECK(weight_.ndim() == 2, "embedding must be 2-d, got {}", weight_.shape_str());
}

void Embedding::forward(Context& ctx, const int32_t* ids, float* out, int64_t T) const {
  if (ctx.tape != nullptr) record_embedding(ctx, *this, ids, out, T);
  const int64_t V = vocab_size(), D = dim();
  for (int64_t t = 0; t < T; ++t) {
    R1_CHECK(ids[t] >= 0 && ids[t] < V, "token id {} out of range [0, {})", ids[t], V);
    quant::dequantize_row(weight_.dtype(), weight_.row(ids[t]), out + t * D, D);
  }
}

}  // namespace r1::nn
