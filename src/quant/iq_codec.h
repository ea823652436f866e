// The ggml lattice ("IQ") block formats, the ternary TQ formats and MXFP4: block structs laid out
// byte for byte as ggml/src/ggml-common.h (llama.cpp 80fb11ac), the scalar dequantisers written
// from ggml-quants.c dequantize_row_*, and the Q8_K activation quantiser their dot products use.
// These are the references every kernel is tested against.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1::quant::iq {

inline constexpr int kQK_K = 256;  // super-block of the K / IQ / TQ formats
inline constexpr int kQK_MXFP4 = 32;

/// IQ2_XXS (2.06 bpw): per 32 elements, 4 bytes of grid indices (kIq2xxsGrid) then a u32 of
/// 4 x 7 sign bits (kSignsIq2xs) and a 4-bit scale s in the top bits: x = d (0.5 + s) / 4 * g.
struct BlockIQ2_XXS {
  uint16_t d;  // f16
  uint16_t qs[kQK_K / 8];
};
static_assert(sizeof(BlockIQ2_XXS) == 66);

/// IQ2_XS (2.31 bpw): u16 per 8 elements = 9-bit index into kIq2xsGrid + 7 sign bits; a 4-bit
/// scale per 16 elements.
struct BlockIQ2_XS {
  uint16_t d;
  uint16_t qs[kQK_K / 8];
  uint8_t scales[kQK_K / 32];
};
static_assert(sizeof(BlockIQ2_XS) == 74);

/// IQ2_S (2.56 bpw): 10-bit index into kIq2sGrid (8 low bits in qs, 2 high in qh), 8 explicit sign
/// bits per 8 elements (second half of qs), a 4-bit scale per 16 elements.
struct BlockIQ2_S {
  uint16_t d;
  uint8_t qs[kQK_K / 4];  // [0, 32): grid index low bits; [32, 64): signs
  uint8_t qh[kQK_K / 32];
  uint8_t scales[kQK_K / 32];
};
static_assert(sizeof(BlockIQ2_S) == 82);

/// IQ3_XXS (3.06 bpw): byte index into kIq3xxsGrid per 4 elements, then per 32 elements a u32 of
/// 4 x 7 sign bits and a 4-bit scale: x = d (0.5 + s) / 2 * g.
struct BlockIQ3_XXS {
  uint16_t d;
  uint8_t qs[3 * kQK_K / 8];
};
static_assert(sizeof(BlockIQ3_XXS) == 98);

/// IQ3_S (3.44 bpw): 9-bit index into kIq3sGrid per 4 elements, explicit signs, a 4-bit scale per
/// 32 elements: x = d (1 + 2 s) * g.
struct BlockIQ3_S {
  uint16_t d;
  uint8_t qs[kQK_K / 4];
  uint8_t qh[kQK_K / 32];
  uint8_t signs[kQK_K / 8];
  uint8_t scales[kQK_K / 64];
};
static_assert(sizeof(BlockIQ3_S) == 110);

/// IQ1_S (1.56 bpw): 11-bit index into kIq1sGrid per 8 elements; per 32 elements a u16 qh with
/// 4 x 3 index bits, a 3-bit scale s and the delta sign: x = d (2 s + 1) (g +- 1/8).
struct BlockIQ1_S {
  uint16_t d;
  uint8_t qs[kQK_K / 8];
  uint16_t qh[kQK_K / 32];
};
static_assert(sizeof(BlockIQ1_S) == 50);

/// IQ1_M (1.75 bpw): as IQ1_S with a delta sign per 8 elements and a 3-bit scale per 16; the f16
/// super-block scale is spread over the top 4 bits of the four u16 words of `scales`.
struct BlockIQ1_M {
  uint8_t qs[kQK_K / 8];
  uint8_t qh[kQK_K / 16];
  uint8_t scales[kQK_K / 32];
};
static_assert(sizeof(BlockIQ1_M) == 56);

/// TQ1_0 (1.69 bpw): ternary {-1, 0, 1} * d, 5 trits per byte (base-3 fixed point), 4 in qh.
struct BlockTQ1_0 {
  uint8_t qs[(kQK_K - 4 * kQK_K / 64) / 5];
  uint8_t qh[kQK_K / 64];
  uint16_t d;
};
static_assert(sizeof(BlockTQ1_0) == 54);

/// TQ2_0 (2.06 bpw): ternary (q - 1) * d, q 2 bits.
struct BlockTQ2_0 {
  uint8_t qs[kQK_K / 4];
  uint16_t d;
};
static_assert(sizeof(BlockTQ2_0) == 66);

/// MXFP4 (OCP MX v1.0): 32 E2M1 values sharing an E8M0 exponent e: x = 2^(e-127) * fp4.
struct BlockMXFP4 {
  uint8_t e;
  uint8_t qs[kQK_MXFP4 / 2];  // byte j: element j (low nibble), j + 16 (high nibble)
};
static_assert(sizeof(BlockMXFP4) == 17);

/// True for the dtypes this file handles: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M,
/// TQ1_0, TQ2_0, MXFP4.
bool is_iq_dtype(DType t);

/// Dequantises n elements (whole blocks of `t`, an is_iq_dtype type) at src into y, exactly as
/// ggml's dequantize_row_<type>. Throws CheckError for other dtypes or partial blocks.
void dequantize_row(DType t, const void* src, float* y, int64_t n);

/// 0.5 * 2^(e - 127) as ggml's GGML_E8M0_TO_FP32_HALF (the MXFP4 scale of the doubled values).
float e8m0_to_f32_half(uint8_t e);

/// Q8_K activations (ggml quantize_row_q8_K_ref): per 256 elements, d = -max / 127 where max is
/// the element of largest magnitude (signed), q = min(127, rint(x / d)); d = 0 and q = 0 for an
/// all-zero block. x: n floats, n % 256 == 0; qs: n int8; d: n / 256 floats.
void quantize_row_q8_K(const float* x, int8_t* qs, float* d, int64_t n);

/// One 256-element super-block unpacked for integer dot products:
/// element i = d * mult * ls[i / 16] * q[i], with `mult` the per-type constant of
/// unpack_mult(t). IQ1_S/IQ1_M fold their +-1/8 delta into q (q = 8 g +- 1, mult 1/8), so every
/// type's dot with Q8_K is sum_g ls[g] * (q . q8)[g] in exact integers, as ggml's vec_dot does.
struct Unpacked256 {
  float d;
  int8_t q[kQK_K];
  int32_t ls[kQK_K / 16];
};

/// Unpacks super-block `blk` of a row of type t (IQ2_XXS ... TQ2_0; not MXFP4).
void unpack_block(DType t, const void* row, int64_t blk, Unpacked256& u);
/// The constant factor of Unpacked256 for t (ggml's final scale of vec_dot_<t>_q8_K).
float unpack_mult(DType t);

}  // namespace r1::quant::iq
