// Tensor: a typed, shaped view of Storage. Shapes are in PyTorch/Hugging Face order (outermost
// first: a linear weight is [out, in]); GGUF's reversed `ne` order is converted by the loader.
// Views share storage and are free; copies are explicit (`clone`, `to_f32`).
#pragma once
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>

#include "core/check.h"
#include "core/dtype.h"
#include "core/storage.h"

namespace r1 {

inline constexpr int kMaxDims = 4;

class Tensor {
 public:
  Tensor() = default;

  /// A new zeroed contiguous tensor. Quantised dtypes need the last dim in whole blocks.
  static Tensor zeros(DType dtype, std::initializer_list<int64_t> shape);
  static Tensor zeros(DType dtype, const int64_t* shape, int ndim);
  /// A contiguous view of `storage` from byte `offset` (no copy). Checks the bytes fit.
  static Tensor view(std::shared_ptr<Storage> storage, size_t offset, DType dtype,
                     const int64_t* shape, int ndim);

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  int ndim() const { return ndim_; }
  int64_t dim(int i) const {
    R1_CHECK(i >= -ndim_ && i < ndim_, "dim {} of a {}-d tensor", i, ndim_);
    return shape_[i < 0 ? i + ndim_ : i];
  }
  const std::array<int64_t, kMaxDims>& shape() const { return shape_; }
  /// Byte stride of dimension i (for quantised dtypes, rows only: the last dim is packed).
  int64_t stride_bytes(int i) const { return strides_[i < 0 ? i + ndim_ : i]; }
  int64_t numel() const;
  /// Elements per row (last dim) and number of rows (product of the others).
  int64_t row_len() const { return ndim_ == 0 ? 1 : shape_[ndim_ - 1]; }
  int64_t n_rows() const { return row_len() == 0 ? 0 : numel() / row_len(); }
  size_t row_bytes() const { return size_t(dtype_bytes(dtype_, row_len())); }
  size_t nbytes() const { return size_t(dtype_bytes(dtype_, numel())); }
  bool is_contiguous() const;

  const uint8_t* bytes() const { return storage_->data() + offset_; }
  uint8_t* mutable_bytes() {
    R1_CHECK(storage_->owned(), "writing into a read-only (memory-mapped) tensor");
    return storage_->data() + offset_;
  }
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(bytes()); }
  template <typename T>
  T* data() { return reinterpret_cast<T*>(mutable_bytes()); }
  /// Pointer to row r (contiguous tensors; rows over all leading dims).
  const uint8_t* row(int64_t r) const {
    R1_CHECK(r >= 0 && r < n_rows(), "row {} of {}", r, n_rows());
    return bytes() + size_t(r) * row_bytes();
  }

  /// Same bytes, new shape (contiguous only; numel must match).
  Tensor reshape(std::initializer_list<int64_t> shape) const;
  /// Rows [begin, end) along dim 0 (a view).
  Tensor slice_rows(int64_t begin, int64_t end) const;
  /// A deep copy into owned storage.
  Tensor clone() const;
  /// Dequantises/converts to a new owned F32 tensor (explicit and costly).
  Tensor to_f32() const;

  const std::shared_ptr<Storage>& storage() const { return storage_; }
  std::string shape_str() const;

 private:
  void set_contiguous_strides();
  std::shared_ptr<Storage> storage_;
  size_t offset_ = 0;
  DType dtype_ = DType::F32;
  int ndim_ = 0;
  std::array<int64_t, kMaxDims> shape_{};
  std::array<int64_t, kMaxDims> strides_{};
};

/// Converts `n` elements of `src` (dtype `t`, whole blocks) to f32 in `dst`.
/// Quantised formats use the GGUF codecs; F8_E4M3 converts codes only (no block scale).
void convert_row_to_f32(DType t, const void* src, float* dst, int64_t n);

}  // namespace r1
