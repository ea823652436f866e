// Scalar codecs of the IQ / TQ / MXFP4 formats. The dequantisers follow ggml-quants.c
// dequantize_row_* (llama.cpp 80fb11ac) formula for formula; unpack_block re-expresses the same
// blocks as int8 values and integer scales for the dot-product kernels (kernels/matmul_iq.cpp).
#include "quant/iq_codec.h"

#include <cmath>
#include <cstring>

#include "core/check.h"
#include "quant/blocks_k.h"
#include "quant/iq_tables.h"
#include "quant/kquants.h"

namespace r1::quant::iq {

namespace {

inline uint8_t grid_u8(uint64_t g, int j) { return uint8_t(g >> (8 * j)); }
inline uint8_t grid_u8(uint32_t g, int j) { return uint8_t(g >> (8 * j)); }
inline float sign_of(uint8_t signs, int j) { return (signs >> j) & 1 ? -1.0f : 1.0f; }
inline uint32_t load_u32(const void* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// ---------------------------------------------------------------- dequantisers

void deq_iq2_xxs(const BlockIQ2_XXS* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      const uint8_t* idx = reinterpret_cast<const uint8_t*>(x[i].qs + 4 * ib);
      const uint32_t aux = load_u32(x[i].qs + 4 * ib + 2);
      const float db = d * (0.5f + float(aux >> 28)) * 0.25f;
      for (int l = 0; l < 4; ++l) {
        const uint64_t g = kIq2xxsGrid[idx[l]];
        const uint8_t s = kSignsIq2xs[(aux >> (7 * l)) & 127];
        for (int j = 0; j < 8; ++j) y[j] = db * float(grid_u8(g, j)) * sign_of(s, j);
        y += 8;
      }
    }
  }
}

void deq_iq2_xs(const BlockIQ2_XS* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      const float db[2] = {d * (0.5f + float(x[i].scales[ib] & 0xf)) * 0.25f,
                           d * (0.5f + float(x[i].scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l) {
        const uint16_t q = x[i].qs[4 * ib + l];
        const uint64_t g = kIq2xsGrid[q & 511];
        const uint8_t s = kSignsIq2xs[q >> 9];
        for (int j = 0; j < 8; ++j) y[j] = db[l / 2] * float(grid_u8(g, j)) * sign_of(s, j);
        y += 8;
      }
    }
  }
}

void deq_iq2_s(const BlockIQ2_S* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t* qs = x[i].qs;
    const uint8_t* signs = x[i].qs + kQK_K / 8;
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      const float db[2] = {d * (0.5f + float(x[i].scales[ib] & 0xf)) * 0.25f,
                           d * (0.5f + float(x[i].scales[ib] >> 4)) * 0.25f};
      for (int l = 0; l < 4; ++l) {
        const uint64_t g = kIq2sGrid[qs[l] | ((x[i].qh[ib] << (8 - 2 * l)) & 0x300)];
        for (int j = 0; j < 8; ++j) y[j] = db[l / 2] * float(grid_u8(g, j)) * sign_of(signs[l], j);
        y += 8;
      }
      qs += 4;
      signs += 4;
    }
  }
}

void deq_iq3_xxs(const BlockIQ3_XXS* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t* qs = x[i].qs;
    const uint8_t* scales_and_signs = x[i].qs + kQK_K / 4;
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      const uint32_t aux = load_u32(scales_and_signs + 4 * ib);
      const float db = d * (0.5f + float(aux >> 28)) * 0.5f;
      for (int l = 0; l < 4; ++l) {
        const uint8_t s = kSignsIq2xs[(aux >> (7 * l)) & 127];
        const uint32_t g1 = kIq3xxsGrid[qs[2 * l]], g2 = kIq3xxsGrid[qs[2 * l + 1]];
        for (int j = 0; j < 4; ++j) {
          y[j] = db * float(grid_u8(g1, j)) * sign_of(s, j);
          y[j + 4] = db * float(grid_u8(g2, j)) * sign_of(s, j + 4);
        }
        y += 8;
      }
      qs += 8;
    }
  }
}

void deq_iq3_s(const BlockIQ3_S* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t* qs = x[i].qs;
    const uint8_t* signs = x[i].signs;
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      // Scales come in nibble pairs: even 32-groups take the low nibble, odd ones the high.
      const int s = ib % 2 == 0 ? (x[i].scales[ib / 2] & 0xf) : (x[i].scales[ib / 2] >> 4);
      const float db = d * float(1 + 2 * s);
      const uint8_t qh = x[i].qh[ib];
      for (int l = 0; l < 4; ++l) {
        const uint32_t g1 = kIq3sGrid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)];
        const uint32_t g2 = kIq3sGrid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)];
        for (int j = 0; j < 4; ++j) {
          y[j] = db * float(grid_u8(g1, j)) * sign_of(signs[l], j);
          y[j + 4] = db * float(grid_u8(g2, j)) * sign_of(signs[l], j + 4);
        }
        y += 8;
      }
      qs += 8;
      signs += 4;
    }
  }
}

void deq_iq1_s(const BlockIQ1_S* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t* qs = x[i].qs;
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      const uint16_t qh = x[i].qh[ib];
      const float dl = d * float(2 * ((qh >> 12) & 7) + 1);
      const float delta = qh & 0x8000 ? -kIq1Delta : kIq1Delta;
      for (int l = 0; l < 4; ++l) {
        const uint64_t g = kIq1sGrid[qs[l] | (((qh >> (3 * l)) & 7) << 8)];
        for (int j = 0; j < 8; ++j) y[j] = dl * (float(int8_t(grid_u8(g, j))) + delta);
        y += 8;
      }
      qs += 4;
    }
  }
}

// IQ1_M keeps its f16 super-block scale in the top nibbles of the four u16 scale words.
inline float iq1m_scale(const uint16_t sc[4]) {
  const uint16_t h = uint16_t((sc[0] >> 12) | ((sc[1] >> 8) & 0x00f0) | ((sc[2] >> 4) & 0x0f00) |
                              (sc[3] & 0xf000));
  return f16_to_f32(h);
}

void deq_iq1_m(const BlockIQ1_M* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    uint16_t sc[4];
    std::memcpy(sc, x[i].scales, 8);
    const float d = iq1m_scale(sc);
    const uint8_t* qs = x[i].qs;
    const uint8_t* qh = x[i].qh;
    for (int ib = 0; ib < kQK_K / 32; ++ib) {
      const float dl[2] = {d * float(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 7) + 1),
                           d * float(2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1)};
      for (int l = 0; l < 4; ++l) {
        // Index high bits and delta sign: low nibble of qh[l/2] for even l, high nibble for odd.
        const uint8_t h = l % 2 == 0 ? (qh[l / 2] & 0xf) : (qh[l / 2] >> 4);
        const uint64_t g = kIq1sGrid[qs[l] | ((h & 7) << 8)];
        const float delta = h & 8 ? -kIq1Delta : kIq1Delta;
        for (int j = 0; j < 8; ++j) y[j] = dl[l / 2] * (float(int8_t(grid_u8(g, j))) + delta);
        y += 8;
      }
      qs += 4;
      qh += 2;
    }
  }
}

// TQ1_0 stores base-3 digits as a fixed-point fraction of 256: digit n of byte q is
// floor(3 * (q * 3^n mod 256) / 256).
inline int trit(uint8_t q, int n) {
  static constexpr uint8_t kPow3[5] = {1, 3, 9, 27, 81};
  const uint8_t v = uint8_t(q * kPow3[n]);
  return int((uint16_t(v) * 3) >> 8) - 1;
}

// Element order of TQ1_0: 160 elements from qs[0..32) (5 digits x 32 bytes), 80 from qs[32..48)
// (5 x 16), 16 from qh (4 digits x 4 bytes). Calls f(element, value in {-1, 0, 1}).
template <typename F>
inline void tq1_elements(const BlockTQ1_0& b, F&& f) {
  int e = 0;
  for (int n = 0; n < 5; ++n)
    for (int m = 0; m < 32; ++m) f(e++, trit(b.qs[m], n));
  for (int n = 0; n < 5; ++n)
    for (int m = 0; m < 16; ++m) f(e++, trit(b.qs[32 + m], n));
  for (int n = 0; n < 4; ++n)
    for (int m = 0; m < 4; ++m) f(e++, trit(b.qh[m], n));
}

void deq_tq1_0(const BlockTQ1_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    tq1_elements(x[i], [&](int e, int v) { y[e] = float(v) * d; });
    y += kQK_K;
  }
}

void deq_tq2_0(const BlockTQ2_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < kQK_K / 4; j += 32)
      for (int l = 0; l < 4; ++l)
        for (int m = 0; m < 32; ++m) *y++ = float(((x[i].qs[j + m] >> (2 * l)) & 3) - 1) * d;
  }
}

void deq_mxfp4(const BlockMXFP4* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = e8m0_to_f32_half(x[i].e);
    for (int j = 0; j < kQK_MXFP4 / 2; ++j) {
      y[j] = float(kValuesMxfp4[x[i].qs[j] & 0xf]) * d;
      y[j + kQK_MXFP4 / 2] = float(kValuesMxfp4[x[i].qs[j] >> 4]) * d;
    }
    y += kQK_MXFP4;
  }
}

}  // namespace

bool is_iq_dtype(DType t) {
  switch (t) {
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
    case DType::IQ3_XXS:
    case DType::IQ3_S:
    case DType::IQ1_S:
    case DType::IQ1_M:
    case DType::TQ1_0:
    case DType::TQ2_0:
    case DType::MXFP4:
      return true;
    default:
      return false;
  }
}

float e8m0_to_f32_half(uint8_t e) { return std::ldexp(1.0f, int(e) - 128); }

void dequantize_row(DType t, const void* src, float* y, int64_t n) {
  R1_CHECK(is_iq_dtype(t), "iq::dequantize_row: {} is not an IQ/TQ/MXFP4 type", dtype_name(t));
  R1_CHECK(is_whole_blocks(t, n), "iq::dequantize_row: {} elements are not whole {} blocks", n,
           dtype_name(t));
  const int64_t nb = n / dtype_traits(t).block_size;
  switch (t) {
    case DType::IQ2_XXS: return deq_iq2_xxs(static_cast<const BlockIQ2_XXS*>(src), y, nb);
    case DType::IQ2_XS: return deq_iq2_xs(static_cast<const BlockIQ2_XS*>(src), y, nb);
    case DType::IQ2_S: return deq_iq2_s(static_cast<const BlockIQ2_S*>(src), y, nb);
    case DType::IQ3_XXS: return deq_iq3_xxs(static_cast<const BlockIQ3_XXS*>(src), y, nb);
    case DType::IQ3_S: return deq_iq3_s(static_cast<const BlockIQ3_S*>(src), y, nb);
    case DType::IQ1_S: return deq_iq1_s(static_cast<const BlockIQ1_S*>(src), y, nb);
    case DType::IQ1_M: return deq_iq1_m(static_cast<const BlockIQ1_M*>(src), y, nb);
    case DType::TQ1_0: return deq_tq1_0(static_cast<const BlockTQ1_0*>(src), y, nb);
    case DType::TQ2_0: return deq_tq2_0(static_cast<const BlockTQ2_0*>(src), y, nb);
    case DType::MXFP4: return deq_mxfp4(static_cast<const BlockMXFP4*>(src), y, nb);
    default: break;
  }
}

void quantize_row_q8_K(const float* x, int8_t* qs, float* d, int64_t n) {
  R1_CHECK(n % kQK_K == 0, "Q8_K activations need whole blocks of 256, got {}", n);
  // The one Q8_K quantiser (quant/kquants.cpp), unpacked into the split layout the IQ dots read.
  BlockQ8_K blk;
  for (int64_t b = 0; b < n / kQK_K; ++b, x += kQK_K, qs += kQK_K) {
    quant::quantize_row_q8_K(x, &blk, kQK_K);
    std::memcpy(qs, blk.qs, kQK_K);
    d[b] = blk.d;
  }
}

// ---------------------------------------------------------------- unpacking for dot products

float unpack_mult(DType t) {
  switch (t) {
    case DType::IQ2_XXS:
    case DType::IQ2_XS:
    case DType::IQ2_S:
    case DType::IQ1_S:
    case DType::IQ1_M:
      return 0.125f;
    case DType::IQ3_XXS:
      return 0.25f;
    case DType::IQ3_S:
    case DType::TQ1_0:
    case DType::TQ2_0:
      return 1.0f;
    default:
      R1_CHECK(false, "unpack_mult: {} has no 256-element integer unpacking", dtype_name(t));
  }
  return 0;
}

namespace {

// q[0..8) = grid magnitudes with signs applied.
template <typename G>
inline void put8(int8_t* q, G g, uint8_t signs) {
  for (int j = 0; j < 8; ++j) {
    const int v = grid_u8(g, j);
    q[j] = int8_t((signs >> j) & 1 ? -v : v);
  }
}
inline void put4(int8_t* q, uint32_t g, uint8_t signs, int shift) {
  for (int j = 0; j < 4; ++j) {
    const int v = grid_u8(g, j);
    q[j] = int8_t((signs >> (j + shift)) & 1 ? -v : v);
  }
}
// IQ1 grid values g in {-1, 0, 1} plus delta +-1/8, times 8: 8 g +- 1.
inline void put8_iq1(int8_t* q, uint64_t g, bool neg_delta) {
  for (int j = 0; j < 8; ++j) q[j] = int8_t(8 * int8_t(grid_u8(g, j)) + (neg_delta ? -1 : 1));
}

}  // namespace

void unpack_block(DType t, const void* row, int64_t blk, Unpacked256& u) {
  const uint8_t* base = static_cast<const uint8_t*>(row) + blk * dtype_traits(t).block_bytes;
  int8_t* q = u.q;
  switch (t) {
    case DType::IQ2_XXS: {
      const auto& b = *reinterpret_cast<const BlockIQ2_XXS*>(base);
      u.d = f16_to_f32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const uint8_t* idx = reinterpret_cast<const uint8_t*>(b.qs + 4 * ib);
        const uint32_t aux = load_u32(b.qs + 4 * ib + 2);
        u.ls[2 * ib] = u.ls[2 * ib + 1] = int32_t(2 * (aux >> 28) + 1);
        for (int l = 0; l < 4; ++l, q += 8) put8(q, kIq2xxsGrid[idx[l]], kSignsIq2xs[(aux >> (7 * l)) & 127]);
      }
      return;
    }
    case DType::IQ2_XS: {
      const auto& b = *reinterpret_cast<const BlockIQ2_XS*>(base);
      u.d = f16_to_f32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        u.ls[2 * ib] = 2 * (b.scales[ib] & 0xf) + 1;
        u.ls[2 * ib + 1] = 2 * (b.scales[ib] >> 4) + 1;
        for (int l = 0; l < 4; ++l, q += 8) {
          const uint16_t v = b.qs[4 * ib + l];
          put8(q, kIq2xsGrid[v & 511], kSignsIq2xs[v >> 9]);
        }
      }
      return;
    }
    case DType::IQ2_S: {
      const auto& b = *reinterpret_cast<const BlockIQ2_S*>(base);
      u.d = f16_to_f32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        u.ls[2 * ib] = 2 * (b.scales[ib] & 0xf) + 1;
        u.ls[2 * ib + 1] = 2 * (b.scales[ib] >> 4) + 1;
        for (int l = 0; l < 4; ++l, q += 8)
          put8(q, kIq2sGrid[b.qs[4 * ib + l] | ((b.qh[ib] << (8 - 2 * l)) & 0x300)],
               b.qs[kQK_K / 8 + 4 * ib + l]);
      }
      return;
    }
    case DType::IQ3_XXS: {
      const auto& b = *reinterpret_cast<const BlockIQ3_XXS*>(base);
      u.d = f16_to_f32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const uint8_t* qs = b.qs + 8 * ib;
        const uint32_t aux = load_u32(b.qs + kQK_K / 4 + 4 * ib);
        u.ls[2 * ib] = u.ls[2 * ib + 1] = int32_t(2 * (aux >> 28) + 1);
        for (int l = 0; l < 4; ++l, q += 8) {
          const uint8_t s = kSignsIq2xs[(aux >> (7 * l)) & 127];
          put4(q, kIq3xxsGrid[qs[2 * l]], s, 0);
          put4(q + 4, kIq3xxsGrid[qs[2 * l + 1]], s, 4);
        }
      }
      return;
    }
    case DType::IQ3_S: {
      const auto& b = *reinterpret_cast<const BlockIQ3_S*>(base);
      u.d = f16_to_f32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const int s = ib % 2 == 0 ? (b.scales[ib / 2] & 0xf) : (b.scales[ib / 2] >> 4);
        u.ls[2 * ib] = u.ls[2 * ib + 1] = 1 + 2 * s;
        const uint8_t* qs = b.qs + 8 * ib;
        const uint8_t qh = b.qh[ib];
        for (int l = 0; l < 4; ++l, q += 8) {
          const uint8_t sg = b.signs[4 * ib + l];
          put4(q, kIq3sGrid[qs[2 * l] | ((qh << (8 - 2 * l)) & 256)], sg, 0);
          put4(q + 4, kIq3sGrid[qs[2 * l + 1] | ((qh << (7 - 2 * l)) & 256)], sg, 4);
        }
      }
      return;
    }
    case DType::IQ1_S: {
      const auto& b = *reinterpret_cast<const BlockIQ1_S*>(base);
      u.d = f16_to_f32(b.d);
      for (int ib = 0; ib < 8; ++ib) {
        const uint16_t qh = b.qh[ib];
        u.ls[2 * ib] = u.ls[2 * ib + 1] = 2 * ((qh >> 12) & 7) + 1;
        for (int l = 0; l < 4; ++l, q += 8)
          put8_iq1(q, kIq1sGrid[b.qs[4 * ib + l] | (((qh >> (3 * l)) & 7) << 8)], qh & 0x8000);
      }
      return;
    }
    case DType::IQ1_M: {
      const auto& b = *reinterpret_cast<const BlockIQ1_M*>(base);
      uint16_t sc[4];
      std::memcpy(sc, b.scales, 8);
      u.d = iq1m_scale(sc);
      for (int ib = 0; ib < 8; ++ib) {
        u.ls[2 * ib] = 2 * ((sc[ib / 2] >> (6 * (ib % 2) + 0)) & 7) + 1;
        u.ls[2 * ib + 1] = 2 * ((sc[ib / 2] >> (6 * (ib % 2) + 3)) & 7) + 1;
        for (int l = 0; l < 4; ++l, q += 8) {
          const uint8_t qh = b.qh[2 * ib + l / 2];
          const uint8_t h = l % 2 == 0 ? (qh & 0xf) : (qh >> 4);
          put8_iq1(q, kIq1sGrid[b.qs[4 * ib + l] | ((h & 7) << 8)], h & 8);
        }
      }
      return;
    }
    case DType::TQ1_0: {
      const auto& b = *reinterpret_cast<const BlockTQ1_0*>(base);
      u.d = f16_to_f32(b.d);
      for (int g = 0; g < 16; ++g) u.ls[g] = 1;
      tq1_elements(b, [&](int e, int v) { q[e] = int8_t(v); });
      return;
    }
    case DType::TQ2_0: {
      const auto& b = *reinterpret_cast<const BlockTQ2_0*>(base);
      u.d = f16_to_f32(b.d);
      for (int g = 0; g < 16; ++g) u.ls[g] = 1;
      for (int j = 0; j < kQK_K / 4; j += 32)
        for (int l = 0; l < 4; ++l)
          for (int m = 0; m < 32; ++m) *q++ = int8_t(((b.qs[j + m] >> (2 * l)) & 3) - 1);
      return;
    }
    default:
      R1_CHECK(false, "unpack_block: {} has no 256-element integer unpacking", dtype_name(t));
  }
}

}  // namespace r1::quant::iq
