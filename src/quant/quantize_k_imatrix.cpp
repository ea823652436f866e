// The weight quantisers of Q4_0, Q4_1, Q5_0, Q5_1 and Q2_K..Q6_K when an importance matrix is
// given: ggml's quantize_row_<type>_impl paths (ggml/src/ggml-quants.c, llama.cpp commit
// 80fb11ac), which llama.cpp's quantizer takes whenever it has imatrix data for a tensor. Each
// element's weight is qw[j] * sqrt(sigma2 + x[j]^2) (qw the importance of column j, sigma2 a
// multiple of the mean x^2 of the row or super-block); Q6_K uses qw as it is. The scale searches
// are those of quantize_k_detail.h; the block scales are themselves fitted by make_qp_quants /
// make_qx_quants weighted by each sub-block's total weight. Expression order follows ggml's for
// bit-identical blocks.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/dtype.h"
#include "quant/blocks.h"
#include "quant/blocks_k.h"
#include "quant/quantize_k_detail.h"

namespace r1::quant::detail {
namespace {

inline void put_f16(uint16_t& dst, float v) { dst = f32_to_f16(v); }

float row_mean_x2(const float* x, int64_t n) {
  float s = 0;
  for (int64_t j = 0; j < n; ++j) s += x[j] * x[j];
  return s / float(n);
}

// Q4_0 (nmax 8) and Q5_0 (nmax 16): signed make_qx_quants per block of 32, sigma2 = mean x^2 of
// the row.
template <int kNmax>
void quantize_q40_q50_w(const float* x, void* dst, int64_t n, const float* qw) {
  const float sigma2 = row_mean_x2(x, n);
  float weight[32];
  int8_t L[32];
  for (int64_t ib = 0; ib < n / 32; ++ib) {
    const float* xb = x + 32 * ib;
    const float* q = qw + 32 * ib;
    for (int j = 0; j < 32; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = make_qx_quants(32, kNmax, xb, L, weight);
    if constexpr (kNmax == 8) {
      auto& y = static_cast<BlockQ4_0*>(dst)[ib];
      put_f16(y.d, d);
      for (int j = 0; j < 16; ++j) y.qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    } else {
      auto& y = static_cast<BlockQ5_0*>(dst)[ib];
      put_f16(y.d, d);
      uint32_t qh = 0;
      for (int j = 0; j < 16; ++j) {
        const uint8_t x0 = uint8_t(L[j]), x1 = uint8_t(L[j + 16]);
        y.qs[j] = uint8_t((x0 & 0x0F) | ((x1 & 0x0F) << 4));
        qh |= uint32_t((x0 & 0x10u) >> 4) << j;
        qh |= uint32_t((x1 & 0x10u) >> 4) << (j + 16);
      }
      std::memcpy(y.qh, &qh, 4);
    }
  }
}

// Q4_1 (nmax 15) and Q5_1 (nmax 31): make_qkx3_quants per block of 32.
template <int kNmax>
void quantize_q41_q51_w(const float* x, void* dst, int64_t n, const float* qw) {
  const float sigma2 = row_mean_x2(x, n);
  float weight[32];
  uint8_t L[32], Laux[32];
  for (int64_t ib = 0; ib < n / 32; ++ib) {
    const float* xb = x + 32 * ib;
    const float* q = qw + 32 * ib;
    for (int j = 0; j < 32; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = make_qkx3_quants(32, kNmax, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
    if constexpr (kNmax == 15) {
      auto& y = static_cast<BlockQ4_1*>(dst)[ib];
      put_f16(y.d, d);
      put_f16(y.m, -min);
      for (int j = 0; j < 16; ++j) y.qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    } else {
      auto& y = static_cast<BlockQ5_1*>(dst)[ib];
      put_f16(y.d, d);
      put_f16(y.m, -min);
      uint32_t qh = 0;
      for (int j = 0; j < 16; ++j) {
        const uint8_t x0 = L[j], x1 = L[j + 16];
        y.qs[j] = uint8_t((x0 & 0x0F) | ((x1 & 0x0F) << 4));
        qh |= uint32_t((x0 & 0x10u) >> 4) << j;
        qh |= uint32_t((x1 & 0x10u) >> 4) << (j + 16);
      }
      std::memcpy(y.qh, &qh, 4);
    }
  }
}

void quantize_q2_k_w(const float* x, BlockQ2_K* y, int64_t nb, const float* quant_weights) {
  uint8_t L[kQK_K], Laux[16], Ls[16], Lm[16];
  float mins[16], scales[16], sw[16], weight[16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    std::memset(sw, 0, sizeof(sw));
    float sumx2 = 0;
    for (int j = 0; j < kQK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = sumx2 / kQK_K;
    for (int j = 0; j < 16; ++j) {
      const float* qw = quant_weights + kQK_K * i + 16 * j;
      for (int l = 0; l < 16; ++l) weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
      for (int l = 0; l < 16; ++l) sw[j] += weight[l];
      scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weight, L + 16 * j, &mins[j], Laux, -0.9f,
                                   0.05f, 36, false);
    }
    float dm = make_qp_quants(16, 15, scales, Ls, sw);
    float mm = make_qp_quants(16, 15, mins, Lm, sw);
    put_f16(y[i].d, dm);
    put_f16(y[i].dmin, mm);
    dm = f16_to_f32(y[i].d);
    mm = f16_to_f32(y[i].dmin);
    for (int j = 0; j < 16; ++j) y[i].scales[j] = uint8_t(Ls[j] | (Lm[j] << 4));
    for (int j = 0; j < 16; ++j) {
      const float d = dm * float(y[i].scales[j] & 0xF);
      if (!d) continue;
      const float m = mm * float(y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = uint8_t(std::clamp(nearest_int((x[16 * j + ii] + m) / d), 0, 3));
    }
    for (int j = 0; j < kQK_K; j += 128)
      for (int l = 0; l < 32; ++l)
        y[i].qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                     (L[j + l + 96] << 6));
  }
}

void quantize_q3_k_w(const float* x, BlockQ3_K* y, int64_t nb, const float* quant_weights) {
  int8_t L[kQK_K], Ls[16];
  float scales[16], weight[16], sw[16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float sumx2 = 0;
    for (int j = 0; j < kQK_K; ++j) sumx2 += x[j] * x[j];
    const float sigma2 = 2 * sumx2 / kQK_K;
    for (int j = 0; j < 16; ++j) {
      const float* qw = quant_weights + kQK_K * i + 16 * j;
      for (int l = 0; l < 16; ++l) weight[l] = qw[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
      float sumw = 0;
      for (int l = 0; l < 16; ++l) sumw += weight[l];
      sw[j] = sumw;
      scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
    }
    std::memset(y[i].scales, 0, 12);
    const float d_block = make_qx_quants(16, 32, scales, Ls, sw);
    for (int j = 0; j < 16; ++j) {
      int l = Ls[j];
      if (j < 8) y[i].scales[j] = uint8_t(l & 0xF);
      else y[i].scales[j - 8] |= uint8_t((l & 0xF) << 4);
      l >>= 4;
      y[i].scales[j % 4 + 8] |= uint8_t(l << (2 * (j / 4)));
    }
    put_f16(y[i].d, d_block);
    for (int j = 0; j < 16; ++j) {
      int sc = j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4;
      sc = int8_t((sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
      const float d = f16_to_f32(y[i].d) * float(sc);
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = int8_t(std::clamp(nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
    }
    std::memset(y[i].hmask, 0, 32);
    for (int j = 0; j < kQK_K; ++j)
      if (L[j] > 3) {
        y[i].hmask[j % 32] |= uint8_t(1 << (j / 32));
        L[j] = int8_t(L[j] - 4);
      }
    for (int j = 0; j < kQK_K; j += 128)
      for (int l = 0; l < 32; ++l)
        y[i].qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                     (L[j + l + 96] << 6));
  }
}

// Q4_K (kBits 4) and Q5_K (kBits 5).
template <int kBits, typename Block>
void quantize_q45_k_w(const float* x, Block* y, int64_t nb, const float* quant_weights) {
  constexpr int nmax = (1 << kBits) - 1;
  uint8_t L[kQK_K], Laux[32], Ls[8], Lm[8];
  float weights[32], sw[8], mins[8], scales[8];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float sum_x2 = 0;
    for (int l = 0; l < kQK_K; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / kQK_K;
    for (int j = 0; j < 8; ++j) {
      const float* qw = quant_weights + kQK_K * i + 32 * j;
      for (int l = 0; l < 32; ++l) weights[l] = qw[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
      float sumw = 0;
      for (int l = 0; l < 32; ++l) sumw += weights[l];
      sw[j] = sumw;
      scales[j] = make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux,
                                   -0.9f, 0.05f, 36, false);
    }
    const float d_block = make_qp_quants(8, 63, scales, Ls, sw);
    const float m_block = make_qp_quants(8, 63, mins, Lm, sw);
    std::memset(y[i].scales, 0, kKScaleSize);
    for (int j = 0; j < 8; ++j) {
      uint8_t ls = Ls[j], lm = Lm[j];
      if constexpr (kBits == 5) {
        ls = std::min<uint8_t>(63, ls);
        lm = std::min<uint8_t>(63, lm);
      }
      pack_scale_min_k4(y[i].scales, j, ls, lm);
    }
    put_f16(y[i].d, d_block);
    put_f16(y[i].dmin, m_block);
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      unpack_scale_min_k4(y[i].scales, j, sc, m);
      const float d = f16_to_f32(y[i].d) * float(sc);
      if (!d) continue;
      const float dm = f16_to_f32(y[i].dmin) * float(m);
      for (int ii = 0; ii < 32; ++ii)
        L[32 * j + ii] = uint8_t(std::clamp(nearest_int((x[32 * j + ii] + dm) / d), 0, nmax));
    }
    if constexpr (kBits == 4) {
      for (int j = 0; j < kQK_K; j += 64)
        for (int l = 0; l < 32; ++l) y[i].qs[j / 2 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
    } else {
      std::memset(y[i].qh, 0, 32);
      for (int g = 0; g < 4; ++g)
        for (int j = 0; j < 32; ++j) {
          const int l1 = L[64 * g + j], l2 = L[64 * g + j + 32];
          if (l1 > 15) y[i].qh[j] |= uint8_t(1 << (2 * g));
          if (l2 > 15) y[i].qh[j] |= uint8_t(2 << (2 * g));
          y[i].qs[32 * g + j] = uint8_t((l1 & 0xF) | ((l2 & 0xF) << 4));
        }
    }
  }
}

}  // namespace

bool has_weighted_k_quantiser(DType t) {
  switch (t) {
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q2_K:
    case DType::Q3_K: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K:
      return true;
    default:
      return false;
  }
}

void quantize_row_k_weighted(DType t, const float* x, void* dst, int64_t n, const float* qw) {
  R1_CHECK(has_weighted_k_quantiser(t) && qw, "no importance-weighted quantiser for {}", dtype_name(t));
  const int64_t bs = dtype_traits(t).block_size;
  R1_CHECK(n % bs == 0, "{} row of {} elements is not whole blocks of {}", dtype_name(t), n, bs);
  const int64_t nb = n / bs;
  switch (t) {
    case DType::Q4_0: return quantize_q40_q50_w<8>(x, dst, n, qw);
    case DType::Q5_0: return quantize_q40_q50_w<16>(x, dst, n, qw);
    case DType::Q4_1: return quantize_q41_q51_w<15>(x, dst, n, qw);
    case DType::Q5_1: return quantize_q41_q51_w<31>(x, dst, n, qw);
    case DType::Q2_K: return quantize_q2_k_w(x, static_cast<BlockQ2_K*>(dst), nb, qw);
    case DType::Q3_K: return quantize_q3_k_w(x, static_cast<BlockQ3_K*>(dst), nb, qw);
    case DType::Q4_K: return quantize_q45_k_w<4>(x, static_cast<BlockQ4_K*>(dst), nb, qw);
    case DType::Q5_K: return quantize_q45_k_w<5>(x, static_cast<BlockQ5_K*>(dst), nb, qw);
    case DType::Q6_K: return quantize_q6_k(x, static_cast<BlockQ6_K*>(dst), nb, qw);
    default: return;
  }
}

}  // namespace r1::quant::detail
