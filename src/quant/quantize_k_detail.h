// Shared pieces of the weight quantisers (quantize_k.cpp, quantize_k_imatrix.cpp, quantize_iq.cpp):
// the scale searches of ggml/src/ggml-quants.c (llama.cpp commit 80fb11ac) that several block
// formats use. Internal to src/quant. Bit-identity with ggml needs the same f32 operations in the
// same order, so the definitions keep ggml's expression order (see quantize_k.cpp).
#pragma once
#include <cmath>
#include <cstdint>

#include "quant/blocks_k.h"

namespace r1::quant::detail {

/// Below this largest |x| a group is treated as all zero (ggml's GROUP_MAX_EPS).
inline constexpr float kGroupMaxEps = 1e-15f;

/// Round half to even, as ggml's nearest_int (a float add of 1.5 * 2^23) does.
inline int nearest_int(float v) { return int(std::nearbyint(v)); }

/// The element of x[0..n) of largest |x| (the first of equals), with that |x| in *amax: the signed
/// max that ggml's group searches (make_qx_quants, make_q3_quants, the IQ4 scale) start from.
/// Returns 0 with *amax 0 for an all-zero group.
float signed_absmax(int n, const float* x, float* amax);

/// ggml make_qx_quants with rmse_type 1: signed levels L in [0, 2 nmax) (stored + nmax) and the
/// scale d minimising sum w (x - d (L - nmax))^2 over iscale = -(nmax + 0.1 k) / max, k in -9..9;
/// w = qw[i] when qw is given, else x^2. Returns d (0 for an all-zero group).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* qw);

/// Q6_K blocks from nb * 256 floats: ggml quantize_row_q6_K_ref (quant_weights null) and
/// quantize_row_q6_K_impl (importance weights [nb * 256]); the two differ only in the weights
/// make_qx_quants gets.
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb, const float* quant_weights);

/// ggml make_qkx3_quants: asymmetric x ~ scale * L - the_min, L in [0, nmax], weights w (x^2 when
/// null), trial iscales (rmin + rdelta k + nmax) / (max - min) for k = 0..nstep, each followed by
/// the weighted least-squares scale and min; squared (or absolute, use_mad) error decides.
/// Returns scale; *the_min = -min >= 0.
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad);

/// ggml make_qp_quants: non-negative x ~ scale * L, L in [0, nmax], weights w: best of 9 trial
/// scales (nmax + 0.1 k) / max by weighted squared error, then up to 5 passes moving single
/// levels while (sum w x L)^2 / sum w L^2 grows. Returns the least-squares scale.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights);

/// Index of the IQ4_NL level nearest to v (ggml best_index_int8 over kvalues_iq4nl).
int nearest_iq4nl(float v);

/// Packs 6-bit scale ls and min lm of sub-block j into Q4_K/Q5_K's 12 scale bytes (zeroed first).
void pack_scale_min_k4(uint8_t* s, int j, uint8_t ls, uint8_t lm);
/// Inverse of pack_scale_min_k4 (ggml get_scale_min_k4).
void unpack_scale_min_k4(const uint8_t* s, int j, uint8_t& sc, uint8_t& m);

}  // namespace r1::quant::detail

#include "core/dtype.h"

namespace r1::quant::detail {

/// True for the types quantize_row_k_weighted writes: Q4_0, Q4_1, Q5_0, Q5_1, Q2_K..Q6_K.
bool has_weighted_k_quantiser(DType t);
/// ggml's quantize_row_<type>_impl with quant_weights qw (n floats, non-null): one row of n
/// elements (whole blocks) into dst. Throws CheckError for another type.
void quantize_row_k_weighted(DType t, const float* x, void* dst, int64_t n, const float* qw);

}  // namespace r1::quant::detail
