// Weight-times-activation products for every weight dtype: y[T, N] = x[T, K] . W[N, K]^T.
// This is the one entry point models call; it dispatches on the weight dtype and on T
// (matvec for decode, batched for prefill; OpenBLAS for large F32 batches).
#pragma once
#include <cstdint>

#include "core/tensor.h"
#include "core/thread_pool.h"

namespace r1::kernels {

/// A weight matrix as the kernels see it: N rows (outputs) of K elements (inputs), row-major,
/// `row_bytes` apart, in `dtype`. For F8_E4M3, `scale_inv` points to the F32 block scales
/// [ceil(N / block_n), ceil(K / block_k)] (DeepSeek-V3 `weight_scale_inv`): w = fp8 * scale.
struct WeightView {
  DType dtype = DType::F32;
  const void* data = nullptr;
  int64_t n = 0;  // rows (output features)
  int64_t k = 0;  // columns (input features)
  size_t row_bytes = 0;
  const float* scale_inv = nullptr;
  int64_t block_n = 128, block_k = 128;
};

/// Views a 2-d weight tensor [N, K]; `scale_inv` (F32 [ceil(N/bn), ceil(K/bk)]) only for F8_E4M3.
WeightView weight_view(const Tensor& w, const Tensor* scale_inv = nullptr, int64_t block_n = 128,
                       int64_t block_k = 128);

/// y[t, :] = W x[t, :] for t < T. x: [T, K] f32 contiguous, y: [T, N] f32 (overwritten).
/// Threaded over output rows on `pool`; must not be called from inside a pool loop.
/// Paths (matmul.cpp, matmul_hwy.cpp, matmul_x86.cpp):
///  - Q8_0/Q4_0: x is quantised to Q8_0 blocks first, as llama.cpp does (K % 32 == 0), then
///    integer dot products: AVX512-VNNI tiles of 4 rows x 4 tokens when the CPU has them, else
///    Highway int16 multiply-adds (1 row x 4 tokens). Error vs exact: the activation rounding,
///    at most sum_i |w_i| * d_x(block of i) / 2.
///  - Q4_1, Q5_0, Q5_1, Q2_K..Q6_K, IQ4_NL, IQ4_XS with T < 8 (matmul_quant.cpp): x is quantised
///    to the activation type llama.cpp pairs with the weight (Q8_K for the K-quants and IQ4_XS,
///    Q8_0 for Q5_0/IQ4_NL, Q8_1 for Q4_1/Q5_1), then integer dot products per (sub-)block.
///  - IQ2_XXS/XS/S, IQ3_XXS/S, IQ1_S/M, TQ1_0/TQ2_0, MXFP4, any T (matmul_iq.cpp): x to Q8_K
///    (Q8_0 for MXFP4), each super-block unpacked once to int8 and dotted with every token.
///  - The other block formats with T >= 8: rows dequantised to f32 in chunks, then sgemm.
///  - F32 with T >= 8: OpenBLAS sgemm. BF16/F16/F8_E4M3 with T >= 8: rows converted to f32 in
///    chunks of 256, then sgemm. T < 8: Highway f32 dot products (1 row x 4 tokens).
/// Float paths agree with matmul_ref within about 1e-5 * sum_i |w_i x_i| (f32 accumulation).
void matmul(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool);

/// The scalar reference: dequantise each weight row to f32 and accumulate in f64.
/// Slow; the tests hold every fast path against it.
void matmul_ref(const WeightView& w, const float* x, float* y, int64_t T);

}  // namespace r1::kernels
