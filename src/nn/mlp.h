// The SwiGLU feed-forward block (Shazeer 2020) of Llama/Qwen2/DeepSeek dense layers and experts:
// down(silu(gate(x)) * up(x)).
#pragma once
#include <cstdint>

#include "nn/context.h"
#include "nn/linear.h"

namespace r1::nn {

class SwiGluMlp {
 public:
  SwiGluMlp() = default;
  /// gate/up: [F, D], down: [D, F] (checked).
  SwiGluMlp(Linear gate, Linear up, Linear down);
  int64_t dim() const { return gate_.in_features(); }       // D
  int64_t ffn_dim() const { return gate_.out_features(); }  // F
  const Linear& gate_proj() const { return gate_; }
  const Linear& up_proj() const { return up_; }
  const Linear& down_proj() const { return down_; }
  int64_t weight_bytes() const;
  int64_t n_params() const;

  int64_t scratch_floats(int64_t T) const { return 2 * T * ffn_dim(); }
  /// x: [T, D] -> out: [T, D] (overwritten; must not alias x). scratch: scratch_floats(T).
  void forward(Context& ctx, const float* x, float* out, int64_t T, float* scratch) const;

 private:
  Linear gate_, up_, down_;
};

}  // namespace r1::nn
