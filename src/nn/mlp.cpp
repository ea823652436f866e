#include "nn/mlp.h"

#include "kernels/ops.h"
#include "nn/grad.h"

namespace r1::nn {

SwiGluMlp::SwiGluMlp(Linear gate, Linear up, Linear down)
    : gate_(std::move(gate)), up_(std::move(up)), down_(std::move(down)) {
  R1_CHECK(up_.in_features() == dim() && up_.out_features() == ffn_dim() &&
               down_.in_features() == ffn_dim() && down_.out_features() == dim(),
           "mlp shapes gate {} up {} down {} disagree", gate_.weight().shape_str(),
           up_.weight().shape_str(), down_.weight().shape_str());
}

int64_t SwiGluMlp::weight_bytes() const {
  return gate_.weight_bytes() + up_.weight_bytes() + down_.weight_bytes();
}
int64_t SwiGluMlp::n_params() const {
  return gate_.n_params() + up_.n_params() + down_.n_params();
}

void SwiGluMlp::forward(Context& ctx, const float* x, float* out, int64_t T,
                        float* scratch) const {
  const int64_t F = ffn_dim();
  if (ctx.tape != nullptr) scratch = ctx.tape->alloc(scratch_floats(T));  // keep g and u
  float* g = scratch;          // [T, F]
  float* u = scratch + T * F;  // [T, F]
  gate_.forward(ctx, x, g, T);
  up_.forward(ctx, x, u, T);
  const int64_t n = T * F;
  float* a = activation_buffer(ctx, n, g);  // silu(g) * u; in place unless training
  if (ctx.tape != nullptr) record_swiglu(ctx, g, u, a, n);
  if (n < (1 << 15)) {
    kernels::swiglu(g, u, a, n);
  } else {
    ctx.pool.parallel_for(n, 1 << 13, [&](int64_t b, int64_t e, int) {
      kernels::swiglu(g + b, u + b, a + b, e - b);
    });
  }
  down_.forward(ctx, a, out, T);
}

}  // namespace r1::nn
