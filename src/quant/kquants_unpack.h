// The unpackers of the K-quant, Q4_1/Q5_x and IQ4 blocks into quant::UnpackedK / Unpacked32
// (layouts: quant/blocks_k.h), inline so that the SIMD kernels (kernels/matmul_quant.cpp, compiled
// once per target) get them vectorised with their own instruction set. Format source:
// ggml/src/ggml-quants.c dequantize_row_* (llama.cpp tag v0.4.0).
#pragma once
#include <cstdint>
#include <type_traits>

#include "core/dtype.h"
#include "quant/blocks_k.h"
#include "quant/iq4nl_values.h"
#include "quant/kquants.h"

#define R1_UNPACK_INLINE inline __attribute__((always_inline))

namespace r1::quant::unpack {

// Scale j (0..7) and min j of the 12-byte packed 6-bit scales of Q4_K / Q5_K: j < 4 in the low
// 6 bits of bytes j and j + 4; j >= 4 in the nibbles of byte j + 4 with their top two bits in
// the top bits of bytes j - 4 (scales) and j (mins). ggml-quants.c get_scale_min_k4.
R1_UNPACK_INLINE void scale_min_k4(int j, const uint8_t* q, int16_t& sc, int16_t& m) {
  if (j < 4) {
    sc = q[j] & 63;
    m = q[j + 4] & 63;
  } else {
    sc = int16_t((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    m = int16_t((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
  }
}

// Elements 128h + 32s + l (l < 32) of Q2_K / Q3_K are bits 2s..2s+1 of qs[32h + l].
R1_UNPACK_INLINE int q2_bits(const uint8_t* qs, int e) { return (qs[32 * (e / 128) + e % 32] >> (2 * ((e / 32) % 4))) & 3; }

R1_UNPACK_INLINE void unpack_q2_k(const BlockQ2_K& b, UnpackedK& u) {
  u.sub = 16;
  u.d = f16_to_f32(b.d);
  u.dmin = f16_to_f32(b.dmin);
  for (int j = 0; j < 16; ++j) {
    u.scale[j] = b.scales[j] & 0xF;
    u.min[j] = b.scales[j] >> 4;
  }
  for (int e = 0; e < kQK_K; ++e) u.q[e] = int8_t(q2_bits(b.qs, e));
}

R1_UNPACK_INLINE void unpack_q3_k(const BlockQ3_K& b, UnpackedK& u) {
  u.sub = 16;
  u.d = f16_to_f32(b.d);
  u.dmin = 0;
  // 16 6-bit scales: low nibble j < 8 in byte j, j >= 8 in the high nibble of byte j - 8; the
  // top two bits at bits 2 * (j / 4) of byte 8 + j % 4. Stored with an offset of 32.
  for (int j = 0; j < 16; ++j) {
    const int lo = j < 8 ? b.scales[j] & 0xF : b.scales[j - 8] >> 4;
    const int hi = (b.scales[8 + j % 4] >> (2 * (j / 4))) & 3;
    u.scale[j] = int16_t((lo | (hi << 4)) - 32);
    u.min[j] = 0;
  }
  // A clear high bit (bit e / 32 of hmask[e % 32]) subtracts 4.
  for (int e = 0; e < kQK_K; ++e) {
    const int hbit = (b.hmask[e % 32] >> (e / 32)) & 1;
    u.q[e] = int8_t(q2_bits(b.qs, e) - (hbit ? 0 : 4));
  }
}

R1_UNPACK_INLINE void unpack_q4_k(const BlockQ4_K& b, UnpackedK& u) {
  u.sub = 32;
  u.d = f16_to_f32(b.d);
  u.dmin = f16_to_f32(b.dmin);
  for (int j = 0; j < 8; ++j) scale_min_k4(j, b.scales, u.scale[j], u.min[j]);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l) {
      u.q[64 * g + l] = int8_t(b.qs[32 * g + l] & 0xF);
      u.q[64 * g + 32 + l] = int8_t(b.qs[32 * g + l] >> 4);
    }
}

R1_UNPACK_INLINE void unpack_q5_k(const BlockQ5_K& b, UnpackedK& u) {
  u.sub = 32;
  u.d = f16_to_f32(b.d);
  u.dmin = f16_to_f32(b.dmin);
  for (int j = 0; j < 8; ++j) scale_min_k4(j, b.scales, u.scale[j], u.min[j]);
  for (int g = 0; g < 4; ++g)
    for (int l = 0; l < 32; ++l) {
      const int e0 = 64 * g + l, e1 = e0 + 32;  // fifth bit: bit e / 32 of qh[e % 32]
      u.q[e0] = int8_t((b.qs[32 * g + l] & 0xF) | (((b.qh[l] >> (e0 / 32)) & 1) << 4));
      u.q[e1] = int8_t((b.qs[32 * g + l] >> 4) | (((b.qh[l] >> (e1 / 32)) & 1) << 4));
    }
}

R1_UNPACK_INLINE void unpack_q6_k(const BlockQ6_K& b, UnpackedK& u) {
  u.sub = 16;
  u.d = f16_to_f32(b.d);
  u.dmin = 0;
  for (int j = 0; j < 16; ++j) {
    u.scale[j] = b.scales[j];
    u.min[j] = 0;
  }
  // Per half h of 128: quarter c (32 elements) takes the low (c = 0, 1) or high (c = 2, 3)
  // nibbles of ql[64h + 32 * (c % 2) + l] and bits 2c..2c+1 of qh[32h + l]; offset 32.
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 4; ++c)
      for (int l = 0; l < 32; ++l) {
        const uint8_t ql = b.ql[64 * h + 32 * (c % 2) + l];
        const int lo = c < 2 ? ql & 0xF : ql >> 4;
        const int hi = (b.qh[32 * h + l] >> (2 * c)) & 3;
        u.q[128 * h + 32 * c + l] = int8_t((lo | (hi << 4)) - 32);
      }
}

R1_UNPACK_INLINE void unpack_iq4_xs(const BlockIQ4_XS& b, UnpackedK& u) {
  u.sub = 32;
  u.d = f16_to_f32(b.d);
  u.dmin = 0;
  for (int j = 0; j < 8; ++j) {
    const int ls = ((b.scales_l[j / 2] >> (4 * (j % 2))) & 0xF) | (((b.scales_h >> (2 * j)) & 3) << 4);
    u.scale[j] = int16_t(ls - 32);
    u.min[j] = 0;
  }
  for (int j = 0; j < 8; ++j)
    for (int l = 0; l < 16; ++l) {
      u.q[32 * j + l] = kIq4nlValues[b.qs[16 * j + l] & 0xF];
      u.q[32 * j + 16 + l] = kIq4nlValues[b.qs[16 * j + l] >> 4];
    }
}

// Bit i of a Q5 block's qh is the fifth bit of element i.
R1_UNPACK_INLINE int q5_high(const uint8_t* qh, int i) { return (qh[i / 8] >> (i % 8)) & 1; }


// One 32-element block of `kT` (Q4_1, Q5_0, Q5_1 or IQ4_NL).
template <DType kT>
R1_UNPACK_INLINE void unpack_block32(const void* b, Unpacked32& u) {
  if constexpr (kT == DType::Q4_1) {
    const auto& q = *static_cast<const BlockQ4_1*>(b);
    u.d = f16_to_f32(q.d);
    u.m = f16_to_f32(q.m);
    for (int j = 0; j < 16; ++j) {
      u.q[j] = int8_t(q.qs[j] & 0xF);
      u.q[j + 16] = int8_t(q.qs[j] >> 4);
    }
  } else if constexpr (kT == DType::Q5_0 || kT == DType::Q5_1) {
    using Block = std::conditional_t<kT == DType::Q5_1, BlockQ5_1, BlockQ5_0>;
    const auto& q = *static_cast<const Block*>(b);
    const int off = kT == DType::Q5_1 ? 0 : 16;
    u.d = f16_to_f32(q.d);
    if constexpr (kT == DType::Q5_1) u.m = f16_to_f32(q.m);
    else u.m = 0;
    for (int j = 0; j < 16; ++j) {
      u.q[j] = int8_t(((q.qs[j] & 0xF) | (q5_high(q.qh, j) << 4)) - off);
      u.q[j + 16] = int8_t(((q.qs[j] >> 4) | (q5_high(q.qh, j + 16) << 4)) - off);
    }
  } else {
    static_assert(kT == DType::IQ4_NL);
    const auto& q = *static_cast<const BlockIQ4_NL*>(b);
    u.d = f16_to_f32(q.d);
    u.m = 0;
    for (int j = 0; j < 16; ++j) {
      u.q[j] = kIq4nlValues[q.qs[j] & 0xF];
      u.q[j + 16] = kIq4nlValues[q.qs[j] >> 4];
    }
  }
}

// One 256-element super-block of `kT` (Q2_K..Q6_K, IQ4_XS).
template <DType kT>
R1_UNPACK_INLINE void unpack_block_k(const void* b, UnpackedK& u) {
  if constexpr (kT == DType::Q2_K) unpack_q2_k(*static_cast<const BlockQ2_K*>(b), u);
  else if constexpr (kT == DType::Q3_K) unpack_q3_k(*static_cast<const BlockQ3_K*>(b), u);
  else if constexpr (kT == DType::Q4_K) unpack_q4_k(*static_cast<const BlockQ4_K*>(b), u);
  else if constexpr (kT == DType::Q5_K) unpack_q5_k(*static_cast<const BlockQ5_K*>(b), u);
  else if constexpr (kT == DType::Q6_K) unpack_q6_k(*static_cast<const BlockQ6_K*>(b), u);
  else {
    static_assert(kT == DType::IQ4_XS);
    unpack_iq4_xs(*static_cast<const BlockIQ4_XS*>(b), u);
  }
}

}  // namespace r1::quant::unpack
