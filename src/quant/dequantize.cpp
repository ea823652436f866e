#include "quant/dequantize.h"

#include <vector>

#include "core/check.h"
#include "quant/iq_codec.h"
#include "quant/kquants.h"

namespace r1::quant {

bool can_dequantize(DType t) {
  switch (t) {
    case DType::F32:
    case DType::F16:
    case DType::BF16:
    case DType::Q8_0:
    case DType::Q4_0:
    case DType::F8_E4M3:
    case DType::I32:
    case DType::I64:
    case DType::U8:
    case DType::I8:
      return true;
    default:
      return is_unpack_k_type(t) || is_unpack_32_type(t) || iq::is_iq_dtype(t);
  }
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
  R1_CHECK(is_whole_blocks(t, n), "dequantize: {} row of {} elements is not whole blocks of {}",
           dtype_name(t), n, dtype_traits(t).block_size);
  if (is_unpack_k_type(t) || is_unpack_32_type(t)) return dequantize_row_k(t, src, dst, n);
  if (iq::is_iq_dtype(t)) return iq::dequantize_row(t, src, dst, n);
  R1_CHECK(can_dequantize(t), "dequantize: no codec for {}", dtype_name(t));
  convert_row_to_f32(t, src, dst, n);
}

Tensor to_f32(const Tensor& t) {
  R1_CHECK(t.is_contiguous(), "to_f32 of a non-contiguous tensor");
  if (t.ndim() == 0) return t.to_f32();
  std::vector<int64_t> shape(t.shape().begin(), t.shape().begin() + t.ndim());
  Tensor out = Tensor::zeros(DType::F32, shape.data(), t.ndim());
  const int64_t rows = t.n_rows(), len = t.row_len();
  float* o = out.data<float>();
  for (int64_t r = 0; r < rows; ++r) dequantize_row(t.dtype(), t.row(r), o + r * len, len);
  return out;
}

}  // namespace r1::quant
