// Linear layer y = x W^T (+ b) over a weight of any dtype (F32/F16/BF16/Q8_0/Q4_0/F8_E4M3 with
// its block scales), computed by kernels::matmul. The weight is a view (usually memory-mapped).
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "kernels/matmul.h"
#include "nn/context.h"

namespace r1::nn {

class Linear {
 public:
  Linear() = default;
  /// weight: [N, K] any dtype (a view, not copied). bias: [N] any float dtype or undefined;
  /// converted once to f32 (small). scale_inv: F32 [ceil(N/128), ceil(K/128)], only for F8_E4M3.
  /// Checks (R1_CHECK): 2-d weight, bias length N.
  Linear(Tensor weight, Tensor bias = {}, Tensor scale_inv = {});

  int64_t in_features() const { return view_.k; }    // K
  int64_t out_features() const { return view_.n; }   // N
  const Tensor& weight() const { return weight_; }
  const Tensor& bias() const { return bias_; }
  bool has_bias() const { return bias_.defined(); }
  /// The weight as kernels::matmul sees it (for batching several products in one loop).
  const kernels::WeightView& view() const { return view_; }
  /// Bytes of weight (+ scales + bias) read by one forward, for roofline figures.
  int64_t weight_bytes() const;
  /// Parameter count (weight + bias; FP8 scales excluded).
  int64_t n_params() const;

  /// y[T, N] = x[T, K] W^T + b. x, y: contiguous f32, must not alias. Cost: one pass over W.
  void forward(Context& ctx, const float* x, float* y, int64_t T) const;

 private:
  Tensor weight_, bias_, scale_inv_;
  kernels::WeightView view_;
};

}  // namespace r1::nn
