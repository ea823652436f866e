#include "core/tensor.h"

#include <cstring>

#include <fmt/format.h>

namespace r1 {

int64_t Tensor::numel() const {
  int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= shape_[i];
  return n;
}

void Tensor::set_contiguous_strides() {
  if (ndim_ == 0) return;
  strides_[ndim_ - 1] = dtype_bytes(dtype_, dtype_traits(dtype_).block_size) /
                        dtype_traits(dtype_).block_size;  // per element; 0 for packed blocks
  int64_t s = int64_t(dtype_bytes(dtype_, shape_[ndim_ - 1]));
  for (int i = ndim_ - 2; i >= 0; --i) {
    strides_[i] = s;
    s *= shape_[i];
  }
}

bool Tensor::is_contiguous() const {
  if (ndim_ == 0) return true;
  int64_t s = int64_t(dtype_bytes(dtype_, shape_[ndim_ - 1]));
  for (int i = ndim_ - 2; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[i] != s) return false;
    s *= shape_[i];
  }
  return true;
}

Tensor Tensor::zeros(DType dtype, std::initializer_list<int64_t> shape) {
  return zeros(dtype, shape.begin(), int(shape.size()));
}

Tensor Tensor::zeros(DType dtype, const int64_t* shape, int ndim) {
  R1_CHECK(ndim >= 0 && ndim <= kMaxDims, "ndim {}", ndim);
  Tensor t;
  t.dtype_ = dtype;
  t.ndim_ = ndim;
  for (int i = 0; i < ndim; ++i) {
    R1_CHECK(shape[i] >= 0, "negative dim");
    t.shape_[i] = shape[i];
  }
  R1_CHECK(is_whole_blocks(dtype, t.row_len()), "{} row of {} elements is not whole blocks",
           dtype_name(dtype), t.row_len());
  t.set_contiguous_strides();
  t.storage_ = Storage::allocate(t.nbytes());
  return t;
}

Tensor Tensor::view(std::shared_ptr<Storage> storage, size_t offset, DType dtype,
                    const int64_t* shape, int ndim) {
  R1_CHECK(ndim >= 0 && ndim <= kMaxDims, "ndim {}", ndim);
  Tensor t;
  t.dtype_ = dtype;
  t.ndim_ = ndim;
  for (int i = 0; i < ndim; ++i) t.shape_[i] = shape[i];
  R1_CHECK(is_whole_blocks(dtype, t.row_len()), "row not whole blocks");
  t.set_contiguous_strides();
  R1_CHECK(offset + t.nbytes() <= storage->size(), "view of {} bytes at {} past storage of {}",
           t.nbytes(), offset, storage->size());
  t.storage_ = std::move(storage);
  t.offset_ = offset;
  return t;
}

Tensor Tensor::reshape(std::initializer_list<int64_t> shape) const {
  R1_CHECK(is_contiguous(), "reshape of a non-contiguous tensor");
  Tensor t = *this;
  t.ndim_ = int(shape.size());
  R1_CHECK(t.ndim_ <= kMaxDims);
  int i = 0;
  for (int64_t d : shape) t.shape_[i++] = d;
  R1_CHECK(t.numel() == numel(), "reshape {} -> {} elements", numel(), t.numel());
  R1_CHECK(is_whole_blocks(dtype_, t.row_len()), "reshape splits a quantised block");
  t.set_contiguous_strides();
  return t;
}

Tensor Tensor::slice_rows(int64_t begin, int64_t end) const {
  R1_CHECK(ndim_ >= 1 && begin >= 0 && begin <= end && end <= shape_[0], "slice [{}, {}) of {}",
           begin, end, shape_str());
  Tensor t = *this;
  t.offset_ += size_t(begin * strides_[0]);
  if (ndim_ == 1) t.offset_ = offset_ + size_t(dtype_bytes(dtype_, begin));
  t.shape_[0] = end - begin;
  return t;
}

Tensor Tensor::clone() const {
  R1_CHECK(is_contiguous(), "clone of a non-contiguous tensor");
  Tensor t = zeros(dtype_, shape_.data(), ndim_);
  std::memcpy(t.storage_->data(), bytes(), nbytes());
  return t;
}

Tensor Tensor::to_f32() const {
  R1_CHECK(is_contiguous(), "to_f32 of a non-contiguous tensor");
  Tensor t = zeros(DType::F32, shape_.data(), ndim_);
  const int64_t rows = n_rows(), len = row_len();
  float* out = t.data<float>();
  for (int64_t r = 0; r < rows; ++r) convert_row_to_f32(dtype_, row(r), out + r * len, len);
  return t;
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (int i = 0; i < ndim_; ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "] " + std::string(dtype_name(dtype_));
}

void convert_row_to_f32(DType t, const void* src, float* dst, int64_t n) {
  const auto* b = static_cast<const uint8_t*>(src);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, src, size_t(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b + 2 * i, 2);
        dst[i] = f16_to_f32(h);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b + 2 * i, 2);
        dst[i] = bf16_to_f32(h);
      }
      return;
    case DType::F8_E4M3:
      for (int64_t i = 0; i < n; ++i) dst[i] = fp8_e4m3_to_f32(b[i]);
      return;
    case DType::Q8_0:
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const uint8_t* p = b + blk * 34;
        uint16_t h;
        std::memcpy(&h, p, 2);
        const float d = f16_to_f32(h);
        for (int j = 0; j < 32; ++j) dst[blk * 32 + j] = d * float(int8_t(p[2 + j]));
      }
      return;
    case DType::Q4_0:
      for (int64_t blk = 0; blk < n / 32; ++blk) {
        const uint8_t* p = b + blk * 18;
        uint16_t h;
        std::memcpy(&h, p, 2);
        const float d = f16_to_f32(h);
        for (int j = 0; j < 16; ++j) {
          dst[blk * 32 + j] = d * float(int(p[2 + j] & 0x0f) - 8);
          dst[blk * 32 + j + 16] = d * float(int(p[2 + j] >> 4) - 8);
        }
      }
      return;
    case DType::I32:
      for (int64_t i = 0; i < n; ++i) {
        int32_t v;
        std::memcpy(&v, b + 4 * i, 4);
        dst[i] = float(v);
      }
      return;
    case DType::I64:
      for (int64_t i = 0; i < n; ++i) {
        int64_t v;
        std::memcpy(&v, b + 8 * i, 8);
        dst[i] = float(v);
      }
      return;
    case DType::U8:
      for (int64_t i = 0; i < n; ++i) dst[i] = float(b[i]);
      return;
    case DType::I8:
      for (int64_t i = 0; i < n; ++i) dst[i] = float(int8_t(b[i]));
      return;
    default:  // the other block formats dequantise in src/quant (core does not know their codecs)
      R1_CHECK(false, "convert_row_to_f32: no conversion for {} here (use quant::dequantize_row)",
               dtype_name(t));
  }
}

}  // namespace r1
