#include "kernels/matmul.h"

#include <vector>

namespace r1::kernels {

WeightView weight_view(const Tensor& w, const Tensor* scale_inv, int64_t block_n, int64_t block_k) {
  R1_CHECK(w.ndim() == 2, "weight must be 2-d, got {}", w.shape_str());
  WeightView v;
  v.dtype = w.dtype();
  v.data = w.bytes();
  v.n = w.dim(0);
  v.k = w.dim(1);
  v.row_bytes = w.row_bytes();
  if (w.dtype() == DType::F8_E4M3) {
    R1_CHECK(scale_inv != nullptr && scale_inv->dtype() == DType::F32,
             "F8_E4M3 weight needs an F32 weight_scale_inv");
    R1_CHECK(scale_inv->ndim() == 2 && scale_inv->dim(0) == (v.n + block_n - 1) / block_n &&
                 scale_inv->dim(1) == (v.k + block_k - 1) / block_k,
             "weight_scale_inv {} does not match weight {} with {}x{} blocks",
             scale_inv->shape_str(), w.shape_str(), block_n, block_k);
    v.scale_inv = scale_inv->data<float>();
    v.block_n = block_n;
    v.block_k = block_k;
  }
  return v;
}

void matmul_ref(const WeightView& w, const float* x, float* y, int64_t T) {
  std::vector<float> row(size_t(w.k));
  for (int64_t n = 0; n < w.n; ++n) {
    const auto* src = static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes;
    convert_row_to_f32(w.dtype, src, row.data(), w.k);
    if (w.dtype == DType::F8_E4M3) {
      const int64_t kb = (w.k + w.block_k - 1) / w.block_k;
      for (int64_t i = 0; i < w.k; ++i) row[i] *= w.scale_inv[(n / w.block_n) * kb + i / w.block_k];
    }
    for (int64_t t = 0; t < T; ++t) {
      double acc = 0;
      const float* xt = x + t * w.k;
      for (int64_t i = 0; i < w.k; ++i) acc += double(row[i]) * double(xt[i]);
      y[t * w.n + n] = float(acc);
    }
  }
}

void matmul(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool) {
  // Placeholder split over output rows using the reference; the kernels work replaces this.
  pool.parallel_for(w.n, 16, [&](int64_t b, int64_t e, int) {
    WeightView part = w;
    part.data = static_cast<const uint8_t*>(w.data) + size_t(b) * w.row_bytes;
    part.n = e - b;
    std::vector<float> tmp(size_t(T * (e - b)));
    if (w.dtype == DType::F8_E4M3) {
      // Block scales are indexed by absolute row; keep the full view and compute rows b..e.
      std::vector<float> row(size_t(w.k));
      const int64_t kb = (w.k + w.block_k - 1) / w.block_k;
      for (int64_t n = b; n < e; ++n) {
        const auto* src = static_cast<const uint8_t*>(w.data) + size_t(n) * w.row_bytes;
        convert_row_to_f32(w.dtype, src, row.data(), w.k);
        for (int64_t i = 0; i < w.k; ++i) row[i] *= w.scale_inv[(n / w.block_n) * kb + i / w.block_k];
        for (int64_t t = 0; t < T; ++t) {
          float acc = 0;
          for (int64_t i = 0; i < w.k; ++i) acc += row[i] * x[t * w.k + i];
          y[t * w.n + n] = acc;
        }
      }
      return;
    }
    matmul_ref(part, x, tmp.data(), T);
    for (int64_t t = 0; t < T; ++t)
      for (int64_t n = b; n < e; ++n) y[t * w.n + n] = tmp[size_t(t * (e - b) + (n - b))];
  });
}

}  // namespace r1::kernels
