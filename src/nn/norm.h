// RMSNorm (Zhang & Sennrich 2019) as HF LlamaRMSNorm computes it, and the token embedding lookup.
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "nn/context.h"

namespace r1::nn {

class RMSNorm {
 public:
  RMSNorm() = default;
  /// weight: [D] any float dtype; converted once to f32 (D floats). eps from the config.
  RMSNorm(const Tensor& weight, float eps);
  int64_t dim() const { return weight_.numel(); }
  float eps() const { return eps_; }
  const Tensor& weight() const { return weight_; }
  /// out[t] = x[t] * rsqrt(mean(x[t]^2) + eps) * w. x, out: [T, D] f32 (may alias).
  void forward(Context& ctx, const float* x, float* out, int64_t T) const;

 private:
  Tensor weight_;  // F32 [D]
  float eps_ = 1e-6f;
};

class Embedding {
 public:
  Embedding() = default;
  /// weight: [V, D] any dtype (a view; quantised rows are dequantised per lookup).
  explicit Embedding(Tensor weight);
  int64_t vocab_size() const { return weight_.dim(0); }
  int64_t dim() const { return weight_.dim(1); }
  const Tensor& weight() const { return weight_; }
  /// out[t, :] = f32(weight[ids[t], :]). ids: [T] in [0, V) (R1_CHECK), out: [T, D] f32.
  void forward(Context& ctx, const int32_t* ids, float* out, int64_t T) const;

 private:
  Tensor weight_;
};

}  // namespace r1::nn
