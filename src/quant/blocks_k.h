// Block layouts of the GGUF formats Q4_1, Q5_0, Q5_1, the K-quants (Q2_K..Q6_K), IQ4_NL, IQ4_XS
// and the activation blocks Q8_1 / Q8_K, byte for byte as ggml's block_* structs
// (ggml/src/ggml-common.h, llama.cpp tag v0.4.0 / commit 80fb11ac), so GGUF tensor data is used
// in place. f16 fields are raw IEEE binary16 bits.
#pragma once
#include <cstdint>

namespace r1 {

inline constexpr int kQK_K = 256;      // elements per K-quant super-block
inline constexpr int kKScaleSize = 12;  // packed 6-bit scales + mins of Q4_K / Q5_K

/// Q4_1: x[i] = d * q[i] + m, q 4-bit; byte j holds element j (low nibble) and j+16 (high).
struct BlockQ4_1 {
  uint16_t d, m;
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ4_1) == 20);

/// Q5_0: x[i] = d * (q[i] - 16), q 5-bit: low nibbles as Q4_0, bit 4 of element i is bit i of qh.
struct BlockQ5_0 {
  uint16_t d;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_0) == 22);

/// Q5_1: x[i] = d * q[i] + m, q 5-bit laid out as Q5_0.
struct BlockQ5_1 {
  uint16_t d, m;
  uint8_t qh[4];
  uint8_t qs[16];
};
static_assert(sizeof(BlockQ5_1) == 24);

/// Q8_1 (activations of Q4_1/Q5_1 dot products): x[i] = d * qs[i]; s = d * sum(qs) (f16).
struct BlockQ8_1 {
  uint16_t d, s;
  int8_t qs[32];
};
static_assert(sizeof(BlockQ8_1) == 36);

/// Q2_K: 16 sub-blocks of 16; x = d * (scales[j] & 15) * q - dmin * (scales[j] >> 4), q 2-bit.
/// Elements 128h + 32s + l (l < 32) are bits 2s..2s+1 of qs[32h + l]; sub-block = element / 16.
struct BlockQ2_K {
  uint8_t scales[16];
  uint8_t qs[64];
  uint16_t d, dmin;
};
static_assert(sizeof(BlockQ2_K) == 84);

/// Q3_K: 16 sub-blocks of 16 with signed 6-bit scales (packed into 12 bytes, offset 32);
/// x = d * (sc - 32) * (q - 4 * !hbit), q the low 2 bits laid out as Q2_K, hbit bit (element / 32)
/// of hmask[element % 32].
struct BlockQ3_K {
  uint8_t hmask[32];
  uint8_t qs[64];
  uint8_t scales[12];
  uint16_t d;
};
static_assert(sizeof(BlockQ3_K) == 110);

/// Q4_K: 8 sub-blocks of 32 with 6-bit scale and min (packed into 12 bytes);
/// x = d * sc * q - dmin * m. Elements 64h + l (l < 32) are the low nibbles of qs[32h + l],
/// 64h + 32 + l the high nibbles.
struct BlockQ4_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ4_K) == 144);

/// Q5_K: Q4_K plus a fifth bit: bit 2h (low nibbles) / 2h+1 (high) of qh[l] for the elements
/// of 64-element group h.
struct BlockQ5_K {
  uint16_t d, dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[32];
  uint8_t qs[128];
};
static_assert(sizeof(BlockQ5_K) == 176);

/// Q6_K: 16 sub-blocks of 16 with int8 scales; x = d * sc * (q - 32), q 6-bit from 4 bits of
/// ql and 2 bits of qh (see dequantize_row_q6_k for the interleave).
struct BlockQ6_K {
  uint8_t ql[128];
  uint8_t qh[64];
  int8_t scales[16];
  uint16_t d;
};
static_assert(sizeof(BlockQ6_K) == 210);

/// Q8_K (activations of the K-quant and IQ dot products): x = d * qs (d an f32), bsums[j] the
/// sum of qs over elements 16j..16j+15.
struct BlockQ8_K {
  float d;
  int8_t qs[kQK_K];
  int16_t bsums[kQK_K / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

/// IQ4_NL: x[i] = d * kIq4nlValues[q[i]], q 4-bit laid out as Q4_0.
struct BlockIQ4_NL {
  uint16_t d;
  uint8_t qs[16];
};
static_assert(sizeof(BlockIQ4_NL) == 18);

/// IQ4_XS: 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l, high 2 in scales_h);
/// x = d * (ls - 32) * kIq4nlValues[q], q laid out per sub-block as IQ4_NL.
struct BlockIQ4_XS {
  uint16_t d;
  uint16_t scales_h;
  uint8_t scales_l[4];
  uint8_t qs[128];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

}  // namespace r1
