// The one dequantisation entry point for every dtype r1 stores: plain floats and Q8_0/Q4_0 via
// core's convert_row_to_f32, the other GGUF block formats via their codecs in src/quant/.
// Everything that needs f32 rows of a weight of any type (matmul's reference and prefill paths,
// embedding lookups, writers, inspect) calls this, never convert_row_to_f32 directly.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "core/tensor.h"

namespace r1::quant {

/// True when dequantize_row can decode `t`.
bool can_dequantize(DType t);

/// Decodes n elements of `t` at src (whole blocks) into dst[n] f32. Throws CheckError for a
/// dtype without a codec or a partial block.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

/// A contiguous F32 copy of `t` of any dtype dequantize_row reads (same shape).
Tensor to_f32(const Tensor& t);

}  // namespace r1::quant
