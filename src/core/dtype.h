// Element types of tensors: plain floats, GGUF block-quantised formats and FP8 E4M3.
// Quantised types are stored as whole blocks exactly as GGUF lays them out (ggml's block_q8_0,
// block_q4_0); FP8 weights carry a separate F32 `weight_scale_inv` tensor (DeepSeek-V3 release).
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace r1 {

enum class DType : uint8_t {
  F32,
  F16,
  BF16,
  Q8_0,
  Q4_0,
  F8_E4M3,  // one byte per element; block scales live in a separate tensor
  I32,
  I64,
  U8,
  I8,
  // GGUF block formats beyond Q8_0/Q4_0 (ggml/src/ggml-common.h block_* structs). Their block
  // structs, codecs and kernels live in src/quant/ and src/kernels/; a type is only mapped from
  // GGUF (io/gguf.cpp kGgmlTypes) once matmul computes with it.
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_1,  // activation type of Q4_1/Q5_1 dot products (never a weight)
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  Q8_K,  // activation type of the K-quant and IQ dot products (never a weight)
  IQ2_XXS,
  IQ2_XS,
  IQ3_XXS,
  IQ1_S,
  IQ4_NL,
  IQ3_S,
  IQ2_S,
  IQ4_XS,
  IQ1_M,
  TQ1_0,
  TQ2_0,
  MXFP4,
};

/// Static facts about a dtype: `block_size` elements take `block_bytes` bytes.
struct DTypeTraits {
  std::string_view name;  // GGUF/safetensors-style name ("Q8_0", "BF16", "F8_E4M3")
  int64_t block_size;
  int64_t block_bytes;
  bool quantized;         // block-quantised (rows must be whole blocks)
};

/// Traits row of `t`.
const DTypeTraits& dtype_traits(DType t);
inline std::string_view dtype_name(DType t) { return dtype_traits(t).name; }

/// Parses a dtype name as written by safetensors ("F32", "BF16", "F8_E4M3", ...) or GGUF.
std::optional<DType> dtype_from_name(std::string_view name);

/// Bytes taken by `n` elements of `t`. Precondition: n is a multiple of the block size
/// (check with `is_whole_blocks`).
inline int64_t dtype_bytes(DType t, int64_t n) {
  const auto& tr = dtype_traits(t);
  return n / tr.block_size * tr.block_bytes;
}
inline bool is_whole_blocks(DType t, int64_t n) { return n % dtype_traits(t).block_size == 0; }

// ---- scalar conversions (exact, IEEE round-to-nearest-even where narrowing) ----

/// IEEE binary16 -> f32 (handles subnormals, inf, NaN).
float f16_to_f32(uint16_t h);
/// f32 -> IEEE binary16, round to nearest even; overflow gives inf.
uint16_t f32_to_f16(float f);
/// bfloat16 -> f32 (exact).
inline float bf16_to_f32(uint16_t h) {
  uint32_t u = uint32_t(h) << 16;
  float f;
  __builtin_memcpy(&f, &u, 4);
  return f;
}
/// f32 -> bfloat16, round to nearest even (NaN stays NaN).
uint16_t f32_to_bf16(float f);
/// FP8 E4M3 (OCP "fn" variant: no inf, 0x7F/0xFF are NaN, max 448) -> f32.
float fp8_e4m3_to_f32(uint8_t v);
/// f32 -> FP8 E4M3 (round to nearest even, saturating to +-448).
uint8_t f32_to_fp8_e4m3(float f);

}  // namespace r1
