// Weight quantisers (float -> blocks) for Q4_1, Q5_0, Q5_1, the K-quants Q2_K..Q6_K, IQ4_NL and
// IQ4_XS: the algorithms ggml uses without and with an importance matrix (ggml/src/ggml-quants.c,
// llama.cpp tag v0.4.0 / commit 80fb11ac: quantize_row_<type>_ref for the Q and K types,
// quantize_iq4_nl / quantize_iq4_xs with ntry 7), written so that the blocks are bit-identical to
// the ones llama.cpp's quantizer writes from the same f32 rows. The scale searches are weighted
// least squares over a few trial scales (see quantize_k.cpp).
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1::quant {

/// True for the types quantize_row_k writes.
bool is_quantize_k_type(DType t);

/// Quantises n floats (n a multiple of the block size of `t`: 32 for Q4_1/Q5_0/Q5_1/IQ4_NL, 256
/// for Q2_K..Q6_K/IQ4_XS) into dst, which holds dtype_bytes(t, n) bytes. Per format:
///  - Q4_1/Q5_1: d = (max - min) / (2^b - 1), m = min, q = trunc((x - m) / d + 0.5).
///  - Q5_0: d = m / -16 (m the x of largest |x|), q = min(31, trunc(x / d + 16.5)).
///  - Q2_K/Q4_K/Q5_K: per sub-block a scale and min from make_qkx2 (least-squares fit of
///    x ~ s*q - m over nstep trial scales, weights |x| or rms + |x|), then 4/6-bit scale codes.
///  - Q3_K/Q6_K: per sub-block a signed scale from make_q3 (iterative re-assignment) / make_qx
///    (19 trial scales, weights x^2), then 6/8-bit scale codes.
///  - IQ4_NL/IQ4_XS: the non-linear 16 levels, 15 trial scales per 32 elements, weights x^2.
/// quant_weights (n floats, may be null): the importance of each column (an imatrix row). When
/// given, the types take ggml's importance-weighted paths (quantize_row_<type>_impl; Q4_0 too,
/// through quantize_row): element weights qw * sqrt(sigma2 + x^2), block scales fitted by
/// make_qp_quants / make_qx_quants (quantize_k_imatrix.cpp).
/// Throws CheckError for another dtype or a partial block.
void quantize_row_k(DType t, const float* x, void* dst, int64_t n,
                    const float* quant_weights = nullptr);

}  // namespace r1::quant
