// Reference (scalar) quantisers and dequantisers for the GGUF block formats. These are the codecs
// every SIMD path and every file writer is checked against.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "quant/blocks.h"

namespace r1::quant {

/// Q8_0 activations (ggml-cpu's x86 quantize_row_q8_0): per block of 32, d = max|x| / 127,
/// q = round_half_even(x * (127 / max|x|)). x: n floats, n % 32 == 0; dst: n/32 blocks.
void quantize_row_q8_0(const float* x, BlockQ8_0* dst, int64_t n);
/// Q4_0 (ggml quantize_row_q4_0_ref): m = the x of largest |x| (signed), d = m / -8,
/// q = min(15, trunc(x / d + 8.5)). x: n floats, n % 32 == 0.
void quantize_row_q4_0(const float* x, BlockQ4_0* dst, int64_t n);
void dequantize_row_q8_0(const BlockQ8_0* src, float* y, int64_t n);
void dequantize_row_q4_0(const BlockQ4_0* src, float* y, int64_t n);

/// True when quantize_row can write `t`.
bool can_quantize(DType t);

/// Converts n floats to `t` (F32, F16, BF16, Q8_0, Q4_0, F8_E4M3 codes without scale, and the
/// types of quantize_row_k: Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL, IQ4_XS) into dst, which must
/// hold dtype_bytes(t, n) bytes. Q8_0 here is the weight quantiser of ggml's file writer
/// (quantize_row_q8_0_ref: halves rounded away from zero), not quantize_row_q8_0 above (the
/// activation one, halves to even). Also the lattice types of quantize_row_iq (IQ2_XXS, IQ2_XS,
/// IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M). quant_weights (n floats or null): the importance of each
/// column, as ggml's quantize_<type>(..., quant_weights): used by Q4_0 and every type of
/// quantize_row_k / quantize_row_iq, ignored by F32/F16/BF16/Q8_0. Throws CheckError for other
/// dtypes, partial blocks, or an IQ type that needs weights without them.
void quantize_row(DType t, const float* x, void* dst, int64_t n,
                  const float* quant_weights = nullptr);

}  // namespace r1::quant
