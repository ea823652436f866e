// Integer dot-product matmul for the GGUF block formats beyond Q8_0/Q4_0: activations are
// quantised to the type llama.cpp pairs with each weight type (ggml-cpu.c type_traits_cpu
// vec_dot_type: Q8_K for the K-quants and IQ4_XS, Q8_0 for Q5_0 and IQ4_NL, Q8_1 for Q4_1 and
// Q5_1), then each weight row is dotted with up to 4 token rows at a time in integers with one
// float scale per (sub-)block. Internals of matmul; models call kernels/matmul.h.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"

namespace r1::kernels::detail {

/// Activations x[T, K] quantised to one activation block type (Q8_0, Q8_1 or Q8_K), row t at
/// data + t * row_bytes in ggml's block layout.
struct BlockActs {
  DType type = DType::Q8_K;
  int64_t T = 0, K = 0;
  size_t row_bytes = 0;
  std::vector<uint8_t> data;
  const uint8_t* row(int64_t t) const { return data.data() + size_t(t) * row_bytes; }
};

/// Quantises x[T, K] to `act` blocks (K a multiple of its block size), threaded over tokens.
void quantize_block_acts(DType act, const float* x, int64_t T, int64_t K, BlockActs& a,
                         ThreadPool& pool);

/// Rows [n0, n1) of y[T, N] = x . W^T from the quantised activations (acts.T tokens).
using QuantRows = void (*)(const WeightView& w, const BlockActs& acts, float* y, int64_t n0,
                           int64_t n1);

/// A weight type's activation type and row kernel (each family of formats has its own file
/// and its own rows function; the table in matmul_quant.cpp lists them).
struct QuantDot {
  DType weight;
  DType act;
  QuantRows rows;
};

/// Rows kernel of Q4_1, Q5_0, Q5_1, IQ4_NL, Q2_K..Q6_K and IQ4_XS (matmul_quant.cpp; Highway
/// runtime dispatch over SSE4/AVX2/AVX-512/NEON, the integer loops vectorised per target).
void matmul_rows_kquant(const WeightView& w, const BlockActs& acts, float* y, int64_t n0,
                        int64_t n1);

/// The QuantDot of weight type `t`, or nullptr when matmul_quant does not compute with it.
const QuantDot* quant_dot(DType t);

/// y[T, N] = x[T, K] . W^T through quant_dot(w.dtype) (which must exist), threaded over rows.
void matmul_quant(const WeightView& w, const float* x, float* y, int64_t T, ThreadPool& pool);

}  // namespace r1::kernels::detail
