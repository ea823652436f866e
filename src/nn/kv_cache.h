// An f32 key/value cache: per layer, K [S, k_width] and V [S, v_width] rows by position, where
// S = n_ctx (capacity) and the widths are Hkv * Hd for grouped-query attention. One allocation,
// made when a session is created; nothing is allocated per token.
#pragma once
#include <cstdint>
#include <vector>

#include "core/check.h"

namespace r1::nn {

class KvCache {
 public:
  KvCache() = default;
  /// Zero-filled storage for n_layers * n_ctx * (k_width + v_width) floats.
  KvCache(int64_t n_layers, int64_t n_ctx, int64_t k_width, int64_t v_width)
      : n_layers_(n_layers), n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width),
        data_(size_t(n_layers * n_ctx * (k_width + v_width)), 0.0f) {}

  int64_t n_layers() const { return n_layers_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }
  int64_t bytes() const { return int64_t(data_.size() * sizeof(float)); }

  /// Layer l's K [n_ctx, k_width] and V [n_ctx, v_width], row p = position p.
  float* k(int64_t layer) {
    R1_CHECK(layer >= 0 && layer < n_layers_, "layer {} of {}", layer, n_layers_);
    return data_.data() + size_t(layer * n_ctx_ * (k_width_ + v_width_));
  }
  float* v(int64_t layer) { return k(layer) + n_ctx_ * k_width_; }

 private:
  int64_t n_layers_ = 0, n_ctx_ = 0, k_width_ = 0, v_width_ = 0;
  std::vector<float> data_;
};

}  // namespace r1::nn
