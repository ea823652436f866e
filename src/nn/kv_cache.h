// An f32 key/value cache: per layer, K [S, k_width] and V [S, v_width] rows by position, where
// S = n_ctx (capacity) and the widths are Hkv * Hd for grouped-query attention. One allocation,
// made when a session is created; nothing is allocated per token. The buffer comes from calloc,
// so a large context costs address space only until positions are written (pages are mapped
// lazily by the OS).
#pragma once
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "core/check.h"

namespace r1::nn {

class KvCache {
 public:
  KvCache() = default;
  /// Zero-filled storage for n_layers * n_ctx * (k_width + v_width) floats.
  /// Throws std::bad_alloc when the address space is not available.
  KvCache(int64_t n_layers, int64_t n_ctx, int64_t k_width, int64_t v_width)
      : n_layers_(n_layers), n_ctx_(n_ctx), k_width_(k_width), v_width_(v_width),
        n_floats_(size_t(n_layers * n_ctx * (k_width + v_width))),
        data_(static_cast<float*>(std::calloc(n_floats_ == 0 ? 1 : n_floats_, sizeof(float)))) {
    if (!data_) throw std::bad_alloc();
  }

  int64_t n_layers() const { return n_layers_; }
  int64_t n_ctx() const { return n_ctx_; }
  int64_t k_width() const { return k_width_; }
  int64_t v_width() const { return v_width_; }
  int64_t bytes() const { return int64_t(n_floats_ * sizeof(float)); }

  /// Layer l's K [n_ctx, k_width] and V [n_ctx, v_width], row p = position p.
  float* k(int64_t layer) {
    R1_CHECK(layer >= 0 && layer < n_layers_, "layer {} of {}", layer, n_layers_);
    return data_.get() + size_t(layer * n_ctx_ * (k_width_ + v_width_));
  }
  float* v(int64_t layer) { return k(layer) + n_ctx_ * k_width_; }

 private:
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  int64_t n_layers_ = 0, n_ctx_ = 0, k_width_ = 0, v_width_ = 0;
  size_t n_floats_ = 0;
  std::unique_ptr<float, Free> data_;
};

}  // namespace r1::nn
