// Rotary position embedding as a block: the frequency table plus the pairing layout, which depends
// on where the weights came from (HF checkpoints rotate halves; llama.cpp's GGUF llama permutes
// Q/K rows so that adjacent pairs rotate). Math lives in kernels/rope.h.
#pragma once
#include <cstdint>

#include "kernels/rope.h"

namespace r1::nn {

class RotaryEmbedding {
 public:
  RotaryEmbedding() = default;
  RotaryEmbedding(kernels::RopeTable table, kernels::RopeLayout layout)
      : table_(std::move(table)), layout_(layout) {}
  int64_t rot_dim() const { return table_.rot_dim; }
  kernels::RopeLayout layout() const { return layout_; }
  const kernels::RopeTable& table() const { return table_; }

  /// Rotates the first R dims of each head of x [T, H, Hd] (Hd = head_stride) in place,
  /// token t at position positions[t]. See kernels::rope_apply for strides.
  void apply(float* x, int64_t T, int64_t H, int64_t token_stride, int64_t head_stride,
             const int32_t* positions) const {
    kernels::rope_apply(table_, layout_, x, T, H, token_stride, head_stride, positions);
  }

 private:
  kernels::RopeTable table_;
  kernels::RopeLayout layout_ = kernels::RopeLayout::NeoX;
};

}  // namespace r1::nn
