#include "nn/linear.h"
#include "quant/dequantize.h"

#include "nn/grad.h"

namespace r1::nn {

void add_inplace(Context& ctx, float* x, const float* y, int64_t n) {
  if (n < (1 << 16)) {
    for (int64_t i = 0; i < n; ++i) x[i] += y[i];
    return;
  }
  ctx.pool.parallel_for(n, 1 << 14, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) x[i] += y[i];
  });
}

Linear::Linear(Tensor weight, Tensor bias, Tensor scale_inv)
    : weight_(std::move(weight)), scale_inv_(std::move(scale_inv)) {
  R1_CHECK(weight_.ndim() == 2, "linear weight must be 2-d, got {}", weight_.shape_str());
  view_ = kernels::weight_view(weight_, scale_inv_.defined() ? &scale_inv_ : nullptr);
  if (bias.defined()) {
    R1_CHECK(bias.numel() == weight_.dim(0), "bias {} does not match weight {}", bias.shape_str(),
             weight_.shape_str());
    bias_ = bias.dtype() == DType::F32 ? bias : quant::to_f32(bias);
  }
}

int64_t Linear::weight_bytes() const {
  int64_t b = int64_t(weight_.nbytes());
  if (scale_inv_.defined()) b += int64_t(scale_inv_.nbytes());
  if (bias_.defined()) b += int64_t(bias_.nbytes());
  return b;
}

int64_t Linear::n_params() const {
  return weight_.numel() + (bias_.defined() ? bias_.numel() : 0);
}

void Linear::forward(Context& ctx, const float* x, float* y, int64_t T) const {
  if (ctx.tape != nullptr) record_linear(ctx, *this, x, y, T);
  kernels::matmul(view_, x, y, T, ctx.pool);
  if (!bias_.defined()) return;
  const float* b = bias_.data<float>();
  const int64_t N = view_.n;
  for (int64_t t = 0; t < T; ++t) {
    float* yt = y + t * N;
    for (int64_t i = 0; i < N; ++i) yt[i] += b[i];
  }
}

}  // namespace r1::nn
