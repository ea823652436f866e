// Internals of matmul shared by its implementation files and tests: the quantised-activation
// buffer, the per-path row kernels, and a switch that lets tests run every path on any machine
// that supports it. Models use only matmul.h.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"

namespace r1::kernels::detail {

/// Activations x[T, K] quantised to Q8_0 for the integer dot products (as llama.cpp does).
/// Blocks are 32 elements; K is padded to `kp` = an even number of blocks (pad values are 0),
/// as the Highway path expects.
struct QuantizedActs {
  int64_t T = 0, K = 0, nb = 0, kp = 0;  // nb = K / 32 blocks; kp = padded K
  std::vector<int8_t> qs;                // [T, kp]  q = rint(x / d), bit-identical to Q8_0 ref
  std::vector<float> d;                  // [T, kp/32] block scale (f16-rounded, as stored)
  std::vector<int32_t> q8off;            // [T, kp/32] -128 * sum(q) (Q8_0 unsigned offset)
  std::vector<int32_t> q4off;            // [T, kp/32] -8 * sum(q) (Q4_0 nibble offset)
  std::vector<float> xsd;                // [T, kp/32] d * sum(q) (decode tiles' offset term)
};

/// Quantises x[T, K] (K % 32 == 0) into `a`, reusing its buffers. Threaded over tokens.
void quantize_acts(const float* x, int64_t T, int64_t K, QuantizedActs& a, ThreadPool& pool);

/// Which implementation matmul uses; Auto picks the fastest available.
enum class MatmulPath { Auto, Generic, Vnni };

/// matmul with a forced path (tests). Vnni only for Q8_0/Q4_0 weights on a CPU with
/// AVX512-VNNI (check vnni_available()); other dtypes ignore the choice.
void matmul_path(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool,
                 MatmulPath path);

/// Rows [n0, n1) of y[T, N] by the Highway kernels (dynamic dispatch; all dtypes).
/// `qa` must be set for Q8_0/Q4_0 weights, else x is used.
void matmul_rows_generic(const WeightView& w, const float* x, const QuantizedActs* qa, float* y,
                         int64_t T, int64_t n0, int64_t n1);

/// Quantises one row of K floats (K % 32 == 0) into qs[K] / d[K/32] / sums[K/32] with the
/// Highway kernels; bit-identical to quant::quantize_row_q8_0.
void quantize_row_q8_acts(const float* x, int64_t K, int8_t* qs, float* d, int32_t* sums);

/// True when the CPU has AVX512F/BW/VL + AVX512-VNNI (x86-64 only).
bool vnni_available();
/// Rows per work unit of matmul_rows_vnni for a pass of `tokens` tokens: callers split rows at
/// multiples of it (4 for the decode tiles, 16 for the interleaved prefill tiles).
int64_t vnni_row_unit(int64_t tokens);
/// Rows [n0, n1), tokens [t0, t1) of y by the AVX512-VNNI kernels (Q8_0/Q4_0 weights).
void matmul_rows_vnni(const WeightView& w, const QuantizedActs& qa, float* y, int64_t t0,
                      int64_t t1, int64_t n0, int64_t n1);

}  // namespace r1::kernels::detail
