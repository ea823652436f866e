// Scalar codecs of Q4_1, Q5_0, Q5_1, the K-quants (Q2_K..Q6_K), IQ4_NL and IQ4_XS (decoding,
// as ggml's dequantize_row_* in ggml/src/ggml-quants.c), plus the activation quantisers Q8_K and
// Q8_1 the dot products use. Every block is first unpacked to small integers and integer scales
// (the `Unpacked*` forms below); dequantisation and the integer dot products in
// kernels/matmul_quant.cpp both work from that one form.
#pragma once
#include <cstdint>

#include "core/dtype.h"
#include "quant/blocks.h"
#include "quant/blocks_k.h"

namespace r1::quant {

/// A 256-element super-block as integers: x[i] = d * scale[i / sub] * q[i] - dmin * min[i / sub].
/// `sub` is 16 (Q2_K, Q3_K, Q6_K: 16 sub-blocks) or 32 (Q4_K, Q5_K, IQ4_XS: 8 sub-blocks).
struct UnpackedK {
  int8_t q[kQK_K];
  int16_t scale[16];
  int16_t min[16];  // all 0 for the formats without a min (Q3_K, Q6_K, IQ4_XS)
  int sub;
  float d, dmin;
};

/// A 32-element block as integers: x[i] = d * q[i] + m (m = 0 for Q5_0 and IQ4_NL).
struct Unpacked32 {
  int8_t q[32];
  float d, m;
};

/// True for the super-block types unpack_k reads (Q2_K..Q6_K, IQ4_XS).
bool is_unpack_k_type(DType t);
/// True for the 32-element types unpack_32 reads (Q4_1, Q5_0, Q5_1, IQ4_NL).
bool is_unpack_32_type(DType t);
/// Unpacks block `b` (a BlockQ2_K..BlockQ6_K or BlockIQ4_XS, per `t`) into `u`.
void unpack_k(DType t, const void* b, UnpackedK& u);
/// Unpacks block `b` (a BlockQ4_1, BlockQ5_0, BlockQ5_1 or BlockIQ4_NL, per `t`) into `u`.
void unpack_32(DType t, const void* b, Unpacked32& u);

/// Dequantises n elements (whole blocks) of `t` (any type above) at src into y.
void dequantize_row_k(DType t, const void* src, float* y, int64_t n);

/// Q8_K activations (ggml quantize_row_q8_K_ref): per 256 elements, m = the x of largest |x|
/// (signed), iscale = -127 / m, q = min(127, round_half_even(iscale * x)), d = 1 / iscale,
/// bsums = sums of q over 16. An all-zero block gets d = 0. n % 256 == 0.
void quantize_row_q8_K(const float* x, BlockQ8_K* dst, int64_t n);
/// Q8_1 activations (ggml-cpu's x86 quantize_row_q8_1): Q8_0's d = max|x| / 127 and
/// q = round_half_even(x * (127 / max|x|)),
/// plus s = f16(d * sum(q)) with d in f32. n % 32 == 0.
void quantize_row_q8_1(const float* x, BlockQ8_1* dst, int64_t n);

}  // namespace r1::quant
