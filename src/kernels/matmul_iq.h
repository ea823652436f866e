// Matmul for the lattice (IQ), ternary (TQ) and MXFP4 weight formats: activations quantised to
// Q8_K (MXFP4: Q8_0) as llama.cpp does, then integer dot products per 256-element super-block.
// Entered through kernels::matmul; models never call this directly.
#pragma once
#include <cstdint>

#include "core/thread_pool.h"
#include "kernels/matmul.h"

namespace r1::kernels::detail {

/// True for the weight dtypes matmul_iq computes (quant::iq::is_iq_dtype).
bool matmul_iq_handles(DType t);

/// y[T, N] = x[T, K] . W[N, K]^T for an IQ2_XXS/IQ2_XS/IQ2_S/IQ3_XXS/IQ3_S/IQ1_S/IQ1_M/TQ1_0/TQ2_0
/// weight (K % 256 == 0) or MXFP4 (K % 32 == 0). Each row's super-block is unpacked once to int8
/// (quant::iq::unpack_block) and dotted with every token's Q8_K block in exact integers, so the
/// result equals ggml's vec_dot_<type>_q8_K up to f32 summation order. Error vs matmul_ref: the
/// activation rounding, at most sum_i |w_i| * d_x(block of i) / 2. Threaded over rows.
void matmul_iq(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool);

/// out[t] = sum_i w[i] * a[t * a_stride + i] over one super-block (i < 256), exact in int32
/// (|w| <= 62 * 31, |a| <= 127). Highway, dispatched at run time (matmul_iq_hwy.cpp).
void dot_super_block(const int16_t* w, const int8_t* a, int64_t a_stride, int64_t T, int32_t* out);

}  // namespace r1::kernels::detail
