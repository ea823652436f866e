// Weight quantisers of the lattice ("IQ") formats IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S
// and IQ1_M: ggml's quantize_row_<type>_impl (ggml/src/ggml-quants.c, llama.cpp commit 80fb11ac,
// by the k-quants' author; the method is described in llama.cpp PRs #4773, #4897, #5590, #5999),
// written so that the blocks are bit-identical to the ones llama.cpp's quantizer writes from the
// same f32 rows and importance matrix. Per group of 8 (IQ2/IQ1) or 4 (IQ3) elements the levels
// are snapped to the nearest grid point (quant/iq_grid_maps.h); a scale search per 16/32
// elements maximises the weighted least-squares fit; signs are stored separately (IQ2_XXS,
// IQ2_XS and IQ3_XXS force an even count of negative signs per 8 by flipping the least important
// element). IQ1_S / IQ1_M search the two level boundaries exhaustively over the sorted values.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1::quant {

/// True for the types quantize_row_iq writes.
bool is_quantize_iq_type(DType t);
/// True when `t` cannot be written without an importance matrix (ggml asserts one for IQ2_XXS,
/// IQ2_XS and IQ1_S; llama.cpp's quantizer also refuses IQ2_S, IQ3_XXS and IQ1_M without one).
bool iq_needs_weights(DType t);

/// Quantises one row of n floats (n % 256 == 0) to `t` into dst (dtype_bytes(t, n) bytes).
/// quant_weights: the importance of each of the n columns (an imatrix row), or null where ggml
/// allows it (IQ2_S, IQ3_XXS, IQ3_S, IQ1_M: weights from x alone). Throws CheckError for another
/// type, a partial block, or missing weights for IQ2_XXS/IQ2_XS/IQ1_S.
void quantize_row_iq(DType t, const float* x, void* dst, int64_t n, const float* quant_weights);

}  // namespace r1::quant
