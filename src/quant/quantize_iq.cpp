// Lattice-format quantisers; see quantize_iq.h. Bit-identity with ggml depends on doing the same
// f32 operations in the same order, so the loops keep ggml's accumulation order and its quirks
// (e.g. IQ3_S leaves its output cursors in place for an all-zero group of 32; IQ2_XXS starts its
// search from make_qp_quants). Names follow ggml's: xval = |x| (after the sign fix), waux =
// sqrt(weight), L / Laux = levels (0..2 for 2-bit grids, 0..7 for IQ3).
#include "quant/quantize_iq.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/check.h"
#include "quant/iq_codec.h"
#include "quant/iq_grid_maps.h"
#include "quant/quantize_k_detail.h"

namespace r1::quant {
namespace {

using detail::make_qp_quants;
using detail::nearest_int;
using iq::GridMap;
using iq::kQK_K;

constexpr float kGroupMaxEps = 1e-15f;        // GROUP_MAX_EPS
constexpr float kGroupMaxEpsIq3Xxs = 1e-8f;   // GROUP_MAX_EPS_IQ3_XXS
constexpr float kGroupMaxEpsIq2S = 1e-8f;     // GROUP_MAX_EPS_IQ2_S
constexpr float kGroupMaxEpsIq1M = 1e-7f;     // GROUP_MAX_EPS_IQ1_M
constexpr float kGroupMaxEpsIq1S = 1e-12f;    // GROUP_MAX_EPS_IQ1_S

inline uint16_t to_f16(float v) { return f32_to_f16(v); }

// Code of `dim` levels L (bits per level).
inline int code_of(const int8_t* L, int dim, int bits) {
  int u = 0;
  for (int i = 0; i < dim; ++i) u |= int(L[i]) << (bits * i);
  return u;
}

// ggml iq2_find_best_neighbour / iq3_find_best_neighbour: the neighbour of `code` minimising
// sum w (scale q - x)^2 (first of equals); writes its levels to L, returns its index.
int best_neighbour(const GridMap& m, int code, const float* xval, const float* weight, float scale,
                   int8_t* L) {
  const uint16_t* nb = m.neighbours.data() + (-m.map[size_t(code)] - 1);
  float best_d2 = FLT_MAX;
  int grid_index = -1;
  for (int j = 1; j <= nb[0]; ++j) {
    const int8_t* pg = m.point(nb[j]);
    float d2 = 0;
    for (int i = 0; i < m.dim; ++i) {
      const float q = pg[i];
      const float diff = scale * q - xval[i];
      d2 += weight[i] * diff * diff;
    }
    if (d2 < best_d2) {
      best_d2 = d2;
      grid_index = nb[j];
    }
  }
  R1_CHECK(grid_index >= 0, "IQ quantiser: no grid neighbour (non-finite input?)");
  const int8_t* pg = m.point(grid_index);
  for (int i = 0; i < m.dim; ++i) L[i] = int8_t((pg[i] - 1) / 2);
  return grid_index;
}

// The grid index of L's point, which must be on the grid.
int on_grid_index(const GridMap& m, const int8_t* L) {
  const int g = m.map[size_t(code_of(L, m.dim, m.bits))];
  R1_CHECK(g >= 0, "IQ quantiser: levels not on the grid");
  return g;
}

// xval = |xb| over 8 elements, with an even number of negative signs: when the count is odd, the
// element of least weight * x^2 (the first of equals) keeps its sign in xval. Returns the 7 stored
// sign bits (bit i: element i negative; the 8th is implied by parity).
uint8_t even_signs(const float* xb, const float* weight, float* xval) {
  int nflip = 0;
  uint8_t s = 0;
  for (int i = 0; i < 8; ++i) {
    if (xb[i] >= 0) {
      xval[i] = xb[i];
    } else {
      xval[i] = -xb[i];
      ++nflip;
      s = uint8_t(s | (1 << i));
    }
  }
  if (nflip % 2) {
    int imin = 0;
    float min = weight[imin] * xb[imin] * xb[imin];
    for (int i = 1; i < 8; ++i) {
      const float ax = weight[i] * xb[i] * xb[i];
      if (ax < min) {
        min = ax;
        imin = i;
      }
    }
    xval[imin] = -xval[imin];
    s = uint8_t(s ^ (1 << imin));
  }
  return uint8_t(s & 127);
}

float sum_sq(const float* x, int n) {
  float s = 0;
  for (int i = 0; i < n; ++i) s += x[i] * x[i];
  return s;
}

// Round levels of a group of `dim` at inverse scale id: nearest_int(0.5 (id x - 1)) in [0, maxl].
inline void round_levels(const float* xval, float id, int dim, int maxl, int8_t* L) {
  for (int i = 0; i < dim; ++i)
    L[i] = int8_t(std::clamp(nearest_int(0.5f * (id * xval[i] - 1)), 0, maxl));
}

// (sum w x q, sum w q^2) with q = 2 L + 1.
inline void fit_sums(const float* weight, const float* xval, const int8_t* L, int n, float& sumqx,
                     float& sumq2) {
  sumqx = sumq2 = 0;
  for (int i = 0; i < n; ++i) {
    const float w = weight[i];
    const float q = float(2 * L[i] + 1);
    sumqx += w * xval[i] * q;
    sumq2 += w * q * q;
  }
}

// One group of m.dim values at inverse scale id: round to levels, then, when they are not on the
// grid, move to the grid point nearest at `scale` (the inner step of ggml's iq2/iq3 quantisers).
// L ends as a grid point's levels either way. Returns whether the rounded levels were on the grid.
bool snap_to_grid(const GridMap& m, const float* xval, const float* weight, float id, float scale,
                  int maxl, int8_t* L) {
  round_levels(xval, id, m.dim, maxl, L);
  const int u = code_of(L, m.dim, m.bits);
  if (m.map[size_t(u)] >= 0) return true;
  best_neighbour(m, u, xval, weight, scale, L);
  return false;
}

void quantize_iq2_xxs(const float* x, iq::BlockIQ2_XXS* y, int64_t nbl, const float* qw_row) {
  const GridMap& m = iq::grid_map(DType::IQ2_XXS);
  constexpr int kMaxQ = 3;
  float scales[8], weight[32], xval[32], waux[32];
  int8_t L[32], Laux[32];
  uint8_t block_signs[4];
  uint32_t q2[16];
  for (int64_t ibl = 0; ibl < nbl; ++ibl) {
    y[ibl].d = to_f16(0.f);
    std::memset(q2, 0, sizeof(q2));
    float max_scale = 0;
    const float* xbl = x + kQK_K * ibl;
    const float sigma2 = sum_sq(xbl, kQK_K) / kQK_K;
    for (int ib = 0; ib < 8; ++ib) {
      const float* xb = xbl + 32 * ib;
      const float* qw = qw_row + kQK_K * ibl + 32 * ib;
      for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
      for (int k = 0; k < 4; ++k) block_signs[k] = even_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k);
      float max = xval[0];
      for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
      if (max < kGroupMaxEps) {
        scales[ib] = 0;
        std::memset(L, 0, 32);
        continue;
      }
      float scale = make_qp_quants(32, kMaxQ + 1, xval, reinterpret_cast<uint8_t*>(L), weight);
      const float eff_max = scale * kMaxQ;
      if (eff_max <= 0) {
        scales[ib] = 0;
        std::memset(L, 0, 32);
        continue;
      }
      float best = 0;
      for (int is = -6; is <= 6; ++is) {
        const float id = (2 * kMaxQ - 1 + float(is) * 0.1f) / eff_max;
        const float this_scale = 1 / id;
        for (int k = 0; k < 4; ++k) {
          snap_to_grid(m, xval + 8 * k, waux + 8 * k, id, this_scale, kMaxQ - 1, Laux + 8 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, Laux, 32, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          std::memcpy(L, Laux, 32);
        }
      }
      if (scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 4; ++k) {
          snap_to_grid(m, xval + 8 * k, waux + 8 * k, id, scale, kMaxQ - 1, L + 8 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, L, 32, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < 4; ++k) block_signs[k] = uint8_t(~block_signs[k] & 127);
      }
      for (int k = 0; k < 4; ++k) {
        const int grid_index = on_grid_index(m, L + 8 * k);
        q2[2 * ib + 0] |= uint32_t(grid_index) << (8 * k);
        q2[2 * ib + 1] |= uint32_t(block_signs[k]) << (7 * k);
      }
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) {
      std::memset(y[ibl].qs, 0, sizeof(y[ibl].qs));
      continue;
    }
    const float d = max_scale / 31;
    y[ibl].d = to_f16(d);
    const float id = 1 / d;
    for (int ib = 0; ib < 8; ++ib) {
      const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
      q2[2 * ib + 1] |= uint32_t(l) << 28;
    }
    std::memcpy(y[ibl].qs, q2, sizeof(q2));
  }
}

// IQ2_XS (kIq2S false) and IQ2_S (true): groups of 16 with a 4-bit scale each. IQ2_S stores all
// 8 signs and a 10-bit index, IQ2_XS 7 signs (even parity) and a 9-bit index.
template <bool kIq2S>
void quantize_iq2_xs_s(const float* x, void* vy, int64_t nbl, const float* qw_row) {
  const GridMap& m = iq::grid_map(kIq2S ? DType::IQ2_S : DType::IQ2_XS);
  constexpr int kMaxQ = 3;
  float scales[16], weight[16], xval[16], waux[16];
  int8_t L[16], Laux[16];
  bool is_on_grid[2], is_on_grid_aux[2];
  uint8_t block_signs[2];
  uint16_t q2[32];
  auto* ys = static_cast<iq::BlockIQ2_S*>(vy);
  auto* yx = static_cast<iq::BlockIQ2_XS*>(vy);
  for (int64_t ibl = 0; ibl < nbl; ++ibl) {
    uint8_t* out_scales;
    if constexpr (kIq2S) {
      std::memset(&ys[ibl], 0, sizeof(iq::BlockIQ2_S));
      out_scales = ys[ibl].scales;
    } else {
      yx[ibl].d = to_f16(0.f);
      std::memset(q2, 0, sizeof(q2));
      std::memset(yx[ibl].scales, 0, sizeof(yx[ibl].scales));
      out_scales = yx[ibl].scales;
    }
    float max_scale = 0;
    const float* xbl = x + kQK_K * ibl;
    const float sumx2 = sum_sq(xbl, kQK_K);
    const float sigma2 = kIq2S ? 2 * sumx2 / kQK_K : sumx2 / kQK_K;
    for (int ib = 0; ib < 16; ++ib) {
      const float* xb = xbl + 16 * ib;
      if (qw_row) {
        const float* qw = qw_row + kQK_K * ibl + 16 * ib;
        for (int i = 0; i < 16; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      } else {
        for (int i = 0; i < 16; ++i) weight[i] = 0.25f * sigma2 + xb[i] * xb[i];
      }
      for (int i = 0; i < 16; ++i) waux[i] = std::sqrt(weight[i]);
      for (int k = 0; k < 2; ++k) {
        if constexpr (kIq2S) {
          uint8_t s = 0;
          for (int i = 0; i < 8; ++i) {
            const float v = xb[8 * k + i];
            xval[8 * k + i] = v >= 0 ? v : -v;
            if (v < 0) s = uint8_t(s | (1 << i));
          }
          block_signs[k] = s;
        } else {
          block_signs[k] = even_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k);
        }
      }
      float max = xval[0];
      for (int i = 1; i < 16; ++i) max = std::max(max, xval[i]);
      std::memset(L, 0, 16);
      if (max < (kIq2S ? kGroupMaxEpsIq2S : kGroupMaxEps)) {
        scales[ib] = 0;
        continue;
      }
      float best = 0;
      float scale = max / (2 * kMaxQ - 1);
      is_on_grid[0] = is_on_grid[1] = true;
      for (int is = -9; is <= 9; ++is) {
        const float id = (2 * kMaxQ - 1 + float(is) * 0.1f) / max;
        const float this_scale = 1 / id;
        for (int k = 0; k < 2; ++k) {
          is_on_grid_aux[k] =
              snap_to_grid(m, xval + 8 * k, waux + 8 * k, id, this_scale, kMaxQ - 1, Laux + 8 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, Laux, 16, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          std::memcpy(L, Laux, 16);
          is_on_grid[0] = is_on_grid_aux[0];
          is_on_grid[1] = is_on_grid_aux[1];
        }
      }
      const int n_not_ongrid = int(!is_on_grid[0]) + int(!is_on_grid[1]);
      if (n_not_ongrid > 0 && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 2; ++k) {
          if (is_on_grid[k]) continue;
          snap_to_grid(m, xval + 8 * k, waux + 8 * k, id, scale, kMaxQ - 1, L + 8 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, L, 16, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < 2; ++k) block_signs[k] = uint8_t(kIq2S ? ~block_signs[k] : ~block_signs[k] & 127);
      }
      for (int k = 0; k < 2; ++k) {
        const int grid_index = on_grid_index(m, L + 8 * k);
        if constexpr (kIq2S) {
          const int i8 = 2 * ib + k;
          ys[ibl].qs[i8] = uint8_t(grid_index & 255);
          ys[ibl].qh[i8 / 4] = uint8_t(ys[ibl].qh[i8 / 4] | ((grid_index >> 8) << (2 * (i8 % 4))));
          ys[ibl].qs[kQK_K / 8 + i8] = block_signs[k];
        } else {
          q2[2 * ib + k] = uint16_t(grid_index | (block_signs[k] << 9));
        }
      }
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) {
      if constexpr (!kIq2S) std::memset(yx[ibl].qs, 0, sizeof(yx[ibl].qs));
      continue;
    }
    const float d = max_scale / 31;
    if constexpr (kIq2S) ys[ibl].d = to_f16(d * 0.9875f);
    else yx[ibl].d = to_f16(d);
    const float id = 1 / d;
    for (int ib = 0; ib < 16; ++ib) {
      const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
      if (ib % 2 == 0) out_scales[ib / 2] = uint8_t(l);
      else out_scales[ib / 2] = uint8_t(out_scales[ib / 2] | (l << 4));
    }
    if constexpr (!kIq2S) std::memcpy(yx[ibl].qs, q2, sizeof(q2));
  }
}

// IQ3_XXS: groups of 32, 8 grid points of 4, a u32 of 4 x 7 signs + 4-bit scale per group.
void quantize_iq3_xxs(const float* x, iq::BlockIQ3_XXS* y, int64_t nbl, const float* qw_row) {
  const GridMap& m = iq::grid_map(DType::IQ3_XXS);
  constexpr int kMaxQ = 8;
  float scales[8], weight[32], xval[32], waux[32];
  int8_t L[32], Laux[32];
  bool is_on_grid[8], is_on_grid_aux[8];
  uint8_t block_signs[8];
  uint8_t q3[96];
  for (int64_t ibl = 0; ibl < nbl; ++ibl) {
    y[ibl].d = to_f16(0.f);
    std::memset(q3, 0, sizeof(q3));
    uint32_t scales_and_signs[8] = {};
    float max_scale = 0;
    const float* xbl = x + kQK_K * ibl;
    const float sigma2 = 2 * sum_sq(xbl, kQK_K) / kQK_K;
    for (int ib = 0; ib < 8; ++ib) {
      const float* xb = xbl + 32 * ib;
      if (qw_row) {
        const float* qw = qw_row + kQK_K * ibl + 32 * ib;
        for (int i = 0; i < 32; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      } else {
        for (int i = 0; i < 32; ++i) weight[i] = xb[i] * xb[i];
      }
      for (int i = 0; i < 32; ++i) waux[i] = std::sqrt(weight[i]);
      for (int k = 0; k < 4; ++k) block_signs[k] = even_signs(xb + 8 * k, weight + 8 * k, xval + 8 * k);
      float max = xval[0];
      for (int i = 1; i < 32; ++i) max = std::max(max, xval[i]);
      std::memset(L, 0, 32);
      if (max < kGroupMaxEpsIq3Xxs) {
        scales[ib] = 0;
        continue;
      }
      float best = 0;
      float scale = max / (2 * kMaxQ - 1);
      std::fill(is_on_grid, is_on_grid + 8, true);
      for (int is = -15; is <= 15; ++is) {
        const float id = (2 * kMaxQ - 1 + float(is) * 0.2f) / max;
        const float this_scale = 1 / id;
        for (int k = 0; k < 8; ++k) {
          is_on_grid_aux[k] =
              snap_to_grid(m, xval + 4 * k, waux + 4 * k, id, this_scale, kMaxQ - 1, Laux + 4 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, Laux, 32, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          std::memcpy(L, Laux, 32);
          std::copy(is_on_grid_aux, is_on_grid_aux + 8, is_on_grid);
        }
      }
      int n_not_ongrid = 0;
      for (int k = 0; k < 8; ++k) n_not_ongrid += !is_on_grid[k];
      if (n_not_ongrid > 0 && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < 8; ++k) {
          if (is_on_grid[k]) continue;
          snap_to_grid(m, xval + 4 * k, waux + 4 * k, id, scale, kMaxQ - 1, L + 4 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, L, 32, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < 4; ++k) block_signs[k] = uint8_t(~block_signs[k] & 127);
      }
      for (int k = 0; k < 8; ++k) q3[8 * ib + k] = uint8_t(on_grid_index(m, L + 4 * k));
      scales_and_signs[ib] = uint32_t(block_signs[0]) | (uint32_t(block_signs[1]) << 7) |
                             (uint32_t(block_signs[2]) << 14) | (uint32_t(block_signs[3]) << 21);
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) {
      std::memset(y[ibl].qs, 0, sizeof(y[ibl].qs));
      continue;
    }
    const float d = max_scale / 31;
    y[ibl].d = to_f16(d * 1.0125f);
    const float id = 1 / d;
    for (int ib = 0; ib < 8; ++ib) {
      const int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 15);
      scales_and_signs[ib] |= uint32_t(l) << 28;
    }
    std::memcpy(q3 + 64, scales_and_signs, 32);
    std::memcpy(y[ibl].qs, q3, sizeof(y[ibl].qs));
  }
}

// IQ3_S: groups of 32 with explicit signs, 9-bit indices (high bits in qh), 4-bit scales in pairs.
void quantize_iq3_s(const float* x, iq::BlockIQ3_S* y, int64_t nbl, const float* qw_row) {
  const GridMap& m = iq::grid_map(DType::IQ3_S);
  constexpr int kMaxQ = 8, kBs = 32, kBs4 = kBs / 4, kBs8 = kBs / 8;
  float scales[kQK_K / kBs], weight[kBs], xval[kBs], waux[kBs];
  int8_t L[kBs], Laux[kBs];
  bool is_on_grid[kBs4], is_on_grid_aux[kBs4];
  uint8_t block_signs[kBs8];
  for (int64_t ibl = 0; ibl < nbl; ++ibl) {
    std::memset(&y[ibl], 0, sizeof(iq::BlockIQ3_S));
    y[ibl].d = to_f16(0.f);
    uint8_t* qs = y[ibl].qs;
    uint8_t* qh = y[ibl].qh;
    uint8_t* signs = y[ibl].signs;
    float max_scale = 0;
    const float* xbl = x + kQK_K * ibl;
    const float sigma2 = 2 * sum_sq(xbl, kQK_K) / kQK_K;
    for (int ib = 0; ib < kQK_K / kBs; ++ib) {
      const float* xb = xbl + kBs * ib;
      if (qw_row) {
        const float* qw = qw_row + kQK_K * ibl + kBs * ib;
        for (int i = 0; i < kBs; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      } else {
        for (int i = 0; i < kBs; ++i) weight[i] = xb[i] * xb[i];
      }
      for (int i = 0; i < kBs; ++i) waux[i] = std::sqrt(weight[i]);
      for (int k = 0; k < kBs8; ++k) {
        uint8_t s = 0;
        for (int i = 0; i < 8; ++i) {
          const float v = xb[8 * k + i];
          xval[8 * k + i] = v >= 0 ? v : -v;
          if (v < 0) s = uint8_t(s | (1 << i));
        }
        block_signs[k] = s;
      }
      float max = xval[0];
      for (int i = 1; i < kBs; ++i) max = std::max(max, xval[i]);
      std::memset(L, 0, kBs);
      if (!max) {
        // ggml leaves qs / signs where they are here (the next group writes over this one's).
        scales[ib] = 0;
        continue;
      }
      float best = 0;
      float scale = max / (2 * kMaxQ - 1);
      std::fill(is_on_grid, is_on_grid + kBs4, false);
      for (int is = -9; is <= 9; ++is) {
        const float id = (2 * kMaxQ - 1 + float(is) * 0.2f) / max;
        const float this_scale = 1 / id;
        for (int k = 0; k < kBs4; ++k) {
          is_on_grid_aux[k] =
              snap_to_grid(m, xval + 4 * k, waux + 4 * k, id, this_scale, kMaxQ - 1, Laux + 4 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, Laux, kBs, sumqx, sumq2);
        if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
          scale = sumqx / sumq2;
          best = scale * sumqx;
          std::memcpy(L, Laux, kBs);
          std::copy(is_on_grid_aux, is_on_grid_aux + kBs4, is_on_grid);
        }
      }
      int n_not_ongrid = 0;
      for (int k = 0; k < kBs4; ++k) n_not_ongrid += !is_on_grid[k];
      if (n_not_ongrid > 0 && scale > 0) {
        const float id = 1 / scale;
        for (int k = 0; k < kBs4; ++k) {  // every group, on the grid or not (as ggml)
          snap_to_grid(m, xval + 4 * k, waux + 4 * k, id, scale, kMaxQ - 1, L + 4 * k);
        }
        float sumqx, sumq2;
        fit_sums(weight, xval, L, kBs, sumqx, sumq2);
        if (sumq2 > 0) scale = sumqx / sumq2;
      }
      if (scale < 0) {
        scale = -scale;
        for (int k = 0; k < kBs8; ++k) block_signs[k] = uint8_t(~block_signs[k]);
      }
      for (int k = 0; k < kBs4; ++k) {
        const int grid_index = on_grid_index(m, L + 4 * k);
        qs[k] = uint8_t(grid_index & 255);
        const int j = ib * kBs4 + k;
        qh[j / 8] = uint8_t(qh[j / 8] | ((grid_index >> 8) << (j % 8)));
      }
      qs += kBs4;
      for (int k = 0; k < kBs8; ++k) signs[k] = block_signs[k];
      signs += kBs8;
      scales[ib] = scale;
      max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) continue;
    const float d = max_scale / 31;
    y[ibl].d = to_f16(d * 1.033f);
    const float id = 1 / d;
    for (int ib = 0; ib < kQK_K / kBs; ib += 2) {
      const int l1 = std::clamp(nearest_int(0.5f * (id * scales[ib + 0] - 1)), 0, 15);
      const int l2 = std::clamp(nearest_int(0.5f * (id * scales[ib + 1] - 1)), 0, 15);
      y[ibl].scales[ib / 2] = uint8_t(l1 | (l2 << 4));
    }
  }
}

// ggml iq1_find_best_neighbour2: the neighbour of `code` minimising sum w (scale xx[l] - x)^2.
int iq1_best_neighbour(const GridMap& m, int code, const float* xval, const float* weight,
                       float scale, const float* xx, int8_t* L) {
  const uint16_t* nb = m.neighbours.data() + (-m.map[size_t(code)] - 1);
  float best_score = FLT_MAX;
  int grid_index = -1;
  for (int j = 1; j <= nb[0]; ++j) {
    const int8_t* pg = m.point(nb[j]);
    float d2 = 0;
    for (int i = 0; i < 8; ++i) {
      const float q = xx[(pg[i] - 1) / 2];
      const float w = weight[i];
      const float diff = scale * q - xval[i];
      d2 += w * diff * diff;
    }
    if (d2 < best_score) {
      best_score = d2;
      grid_index = nb[j];
    }
  }
  R1_CHECK(grid_index >= 0, "IQ1 quantiser: no grid neighbour (non-finite input?)");
  const int8_t* pg = m.point(grid_index);
  for (int i = 0; i < 8; ++i) L[i] = int8_t((pg[i] - 1) / 2);
  return grid_index;
}

// Element order of xb by value, ties in index order (ggml's qsort, a stable merge sort in glibc).
void sort_order(const float* xb, int n, int* idx) {
  std::iota(idx, idx + n, 0);
  std::stable_sort(idx, idx + n, [&](int a, int b) { return xb[a] < xb[b]; });
}

constexpr float kIq1Delta = 0.125f;  // IQ1S_DELTA = IQ1M_DELTA

void quantize_iq1_s(const float* x, iq::BlockIQ1_S* y, int64_t nbl, const float* qw_row) {
  const GridMap& m = iq::grid_map(DType::IQ1_S);
  constexpr int kBs = 32;
  const float x_p[3] = {-1 + kIq1Delta, kIq1Delta, 1 + kIq1Delta};
  const float x_m[3] = {-1 - kIq1Delta, -kIq1Delta, 1 - kIq1Delta};
  float scales[kQK_K / kBs], weight[kBs], sumx[kBs + 1], sumw[kBs + 1];
  int8_t L[kBs], shifts[kQK_K / kBs];
  int idx[kBs];
  uint16_t index[kBs / 8];
  for (int64_t ibl = 0; ibl < nbl; ++ibl) {
    y[ibl].d = to_f16(0.f);
    std::memset(y[ibl].qs, 0, sizeof(y[ibl].qs));
    std::memset(y[ibl].qh, 0, sizeof(y[ibl].qh));
    float max_scale = 0;
    const float* xbl = x + kQK_K * ibl;
    const float sigma2 = 2 * sum_sq(xbl, kQK_K) / kQK_K;
    for (int ib = 0; ib < kQK_K / kBs; ++ib) {
      const float* xb = xbl + kBs * ib;
      const float* qw = qw_row + kQK_K * ibl + kBs * ib;
      for (int i = 0; i < kBs; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
      float max = std::fabs(xb[0]);
      for (int i = 1; i < kBs; ++i) max = std::max(max, std::fabs(xb[i]));
      if (max < kGroupMaxEpsIq1S) {
        scales[ib] = 0;
        shifts[ib] = 1;
        continue;
      }
      sort_order(xb, kBs, idx);
      sumx[0] = sumw[0] = 0;
      for (int j = 0; j < kBs; ++j) {
        const int i = idx[j];
        sumx[j + 1] = sumx[j] + weight[i] * xb[i];
        sumw[j + 1] = sumw[j] + weight[i];
      }
      float best_score = -FLT_MAX, scale = max;
      int besti1 = -1, besti2 = -1, best_shift = 0;
      for (int i1 = 0; i1 <= kBs; ++i1)
        for (int i2 = i1; i2 <= kBs; ++i2) {
          for (int sh = 0; sh < 2; ++sh) {
            const float* v = sh == 0 ? x_p : x_m;
            const float sumqx = (sumx[i1] - sumx[0]) * v[0] + (sumx[i2] - sumx[i1]) * v[1] +
                                (sumx[kBs] - sumx[i2]) * v[2];
            const float sumq2 = (sumw[i1] - sumw[0]) * v[0] * v[0] + (sumw[i2] - sumw[i1]) * v[1] * v[1] +
                                (sumw[kBs] - sumw[i2]) * v[2] * v[2];
            if (sumq2 > 0 && sumqx * sumqx > best_score * sumq2) {
              scale = sumqx / sumq2;
              best_score = scale * sumqx;
              besti1 = i1;
              besti2 = i2;
              best_shift = sh == 0 ? 1 : -1;
            }
          }
        }
      if (besti1 < 0 || besti2 < 0 || best_shift == 0) {
        scales[ib] = 0;
        shifts[ib] = 1;
        continue;
      }
      for (int j = 0; j < besti1; ++j) L[idx[j]] = 0;
      for (int j = besti1; j < besti2; ++j) L[idx[j]] = 1;
      for (int j = besti2; j < kBs; ++j) L[idx[j]] = 2;
      if (scale < 0) {
        for (int j = 0; j < kBs; ++j) L[j] = int8_t(2 - L[j]);
        scale = -scale;
        best_shift = -best_shift;
      }
      bool all_on_grid = true;
      const float* xx = best_shift == 1 ? x_p : x_m;
      for (int k = 0; k < kBs / 8; ++k) {
        const int u = code_of(L + 8 * k, 8, 2);
        int grid_index = m.map[size_t(u)];
        if (grid_index < 0) {
          all_on_grid = false;
          grid_index = iq1_best_neighbour(m, u, xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k);
        }
        index[k] = uint16_t(grid_index);
      }
      if (!all_on_grid) {
        float sumqx = 0, sumq2 = 0;
        for (int k = 0; k < kBs / 8; ++k) {
          const int8_t* pg = m.point(index[k]);
          for (int j = 0; j < 8; ++j) {
            const float w = weight[8 * k + j];
            const float q = xx[(pg[j] - 1) / 2];
            sumqx += w * q * xb[8 * k + j];
            sumq2 += w * q * q;
          }
        }
        if (sumqx > 0 && sumq2 > 0) scale = sumqx / sumq2;
      }
      uint16_t h = 0;
      for (int k = 0; k < kBs / 8; ++k) {
        y[ibl].qs[(kBs / 8) * ib + k] = uint8_t(index[k] & 255);
        h = uint16_t(h | ((index[k] >> 8) << (3 * k)));
      }
      y[ibl].qh[ib] = h;
      scales[ib] = scale;
      shifts[ib] = int8_t(best_shift);
      max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) continue;
    const float d = max_scale / 15;
    y[ibl].d = to_f16(d * 1.125f);
    const float id = 1 / d;
    for (int ib = 0; ib < kQK_K / kBs; ++ib) {
      int l = std::clamp(nearest_int(0.5f * (id * scales[ib] - 1)), 0, 7);
      if (shifts[ib] == -1) l |= 8;
      y[ibl].qh[ib] = uint16_t(y[ibl].qh[ib] | (l << 12));
    }
  }
}

void quantize_iq1_m(const float* x, iq::BlockIQ1_M* y, int64_t nbl, const float* qw_row) {
  const GridMap& m = iq::grid_map(DType::IQ1_M);
  constexpr int kBs = 16;
  const float x_p[3] = {-1 + kIq1Delta, kIq1Delta, 1 + kIq1Delta};
  const float x_m[3] = {-1 - kIq1Delta, -kIq1Delta, 1 - kIq1Delta};
  const uint8_t masks[4] = {0x00, 0x80, 0x08, 0x88};
  float scales[kQK_K / kBs], weight[kBs], sumqx[4], sumq2[4];
  int8_t L[kBs], shifts[kQK_K / kBs];
  int idx[kBs];
  uint16_t index[kBs / 8];
  // Shift pattern k (0..3) uses x_p / x_m for the first (k < 2) and second (k even) 8 elements.
  auto xx_of = [&](int k, int half) { return half == 0 ? (k < 2 ? x_p : x_m) : (k % 2 == 0 ? x_p : x_m); };
  auto set_weights = [&](const float* xb, const float* qw, float sigma2) {
    if (qw) {
      for (int i = 0; i < kBs; ++i) weight[i] = qw[i] * std::sqrt(sigma2 + xb[i] * xb[i]);
    } else {
      for (int i = 0; i < kBs; ++i) weight[i] = xb[i] * xb[i];
    }
  };
  for (int64_t ibl = 0; ibl < nbl; ++ibl) {
    std::memset(y[ibl].qs, 0, sizeof(y[ibl].qs));
    std::memset(y[ibl].qh, 0, sizeof(y[ibl].qh));
    std::memset(y[ibl].scales, 0, sizeof(y[ibl].scales));
    float max_scale = 0;
    const float* xbl = x + kQK_K * ibl;
    const float sigma2 = 2 * sum_sq(xbl, kQK_K) / kQK_K;
    for (int ib = 0; ib < kQK_K / kBs; ++ib) {
      const float* xb = xbl + kBs * ib;
      set_weights(xb, qw_row ? qw_row + kQK_K * ibl + kBs * ib : nullptr, sigma2);
      float max = std::fabs(xb[0]);
      for (int i = 1; i < kBs; ++i) max = std::max(max, std::fabs(xb[i]));
      if (max < kGroupMaxEpsIq1M) {
        scales[ib] = 0;
        shifts[ib] = 0;
        continue;
      }
      sort_order(xb, kBs, idx);
      float best_score = -FLT_MAX, scale = max;
      int besti1 = -1, besti2 = -1, best_k = -1;
      for (int i1 = 0; i1 <= kBs; ++i1)
        for (int i2 = i1; i2 <= kBs; ++i2) {
          std::memset(sumqx, 0, sizeof(sumqx));
          std::memset(sumq2, 0, sizeof(sumq2));
          // Sums in ggml's order: by sorted position, levels 0, 1, 2; per element the four
          // patterns' terms (first half: patterns 0,1 use x_p; second half: 0,2 use x_p).
          for (int j = 0; j < kBs; ++j) {
            const int lev = j < i1 ? 0 : j < i2 ? 1 : 2;
            const int i = idx[j];
            const float wp = weight[i] * x_p[lev], wm = weight[i] * x_m[lev];
            const float qp = weight[i] * x_p[lev] * x_p[lev], qm = weight[i] * x_m[lev] * x_m[lev];
            if (i < kBs / 2) {
              sumqx[0] += wp * xb[i]; sumqx[1] += wp * xb[i]; sumqx[2] += wm * xb[i]; sumqx[3] += wm * xb[i];
              sumq2[0] += qp; sumq2[1] += qp; sumq2[2] += qm; sumq2[3] += qm;
            } else {
              sumqx[0] += wp * xb[i]; sumqx[2] += wp * xb[i]; sumqx[1] += wm * xb[i]; sumqx[3] += wm * xb[i];
              sumq2[0] += qp; sumq2[2] += qp; sumq2[1] += qm; sumq2[3] += qm;
            }
          }
          for (int k = 0; k < 4; ++k)
            if (sumq2[k] > 0 && sumqx[k] * sumqx[k] > best_score * sumq2[k]) {
              scale = sumqx[k] / sumq2[k];
              best_score = scale * sumqx[k];
              besti1 = i1;
              besti2 = i2;
              best_k = k;
            }
        }
      if (besti1 < 0 || besti2 < 0 || best_k < 0) {
        scales[ib] = 0;
        shifts[ib] = 0;
        continue;
      }
      for (int j = 0; j < besti1; ++j) L[idx[j]] = 0;
      for (int j = besti1; j < besti2; ++j) L[idx[j]] = 1;
      for (int j = besti2; j < kBs; ++j) L[idx[j]] = 2;
      if (scale < 0) {
        for (int j = 0; j < kBs; ++j) L[j] = int8_t(2 - L[j]);
        scale = -scale;
        best_k = 3 - best_k;
      }
      bool all_on_grid = true;
      for (int k = 0; k < kBs / 8; ++k) {
        const float* xx = xx_of(best_k, k);
        const int u = code_of(L + 8 * k, 8, 2);
        int grid_index = m.map[size_t(u)];
        if (grid_index < 0) {
          all_on_grid = false;
          grid_index = iq1_best_neighbour(m, u, xb + 8 * k, weight + 8 * k, scale, xx, L + 8 * k);
        }
        index[k] = uint16_t(grid_index);
      }
      if (!all_on_grid) {
        float sx = 0, s2 = 0;
        for (int k = 0; k < kBs / 8; ++k) {
          const float* xx = xx_of(best_k, k);
          const int8_t* pg = m.point(index[k]);
          for (int j = 0; j < 8; ++j) {
            const float w = weight[8 * k + j];
            const float q = xx[(pg[j] - 1) / 2];
            sx += w * q * xb[8 * k + j];
            s2 += w * q * q;
          }
        }
        if (sx > 0 && s2 > 0) scale = sx / s2;
      }
      y[ibl].qs[2 * ib + 0] = uint8_t(index[0] & 255);
      y[ibl].qs[2 * ib + 1] = uint8_t(index[1] & 255);
      y[ibl].qh[ib] = uint8_t((index[0] >> 8) | ((index[1] >> 8) << 4));
      scales[ib] = scale;
      shifts[ib] = int8_t(best_k);
      max_scale = std::max(max_scale, scale);
    }
    if (!max_scale) continue;
    uint16_t sc[4] = {};
    float d = max_scale / 15;
    const float id = 1 / d;
    float sx = 0, s2 = 0;
    for (int ib = 0; ib < kQK_K / kBs; ++ib) {
      const int l = std::clamp(nearest_int(0.5f * (id * scales[ib + 0] - 1)), 0, 7);
      sc[ib / 4] = uint16_t(sc[ib / 4] | (l << (3 * (ib % 4))));
      y[ibl].qh[ib] = uint8_t(y[ibl].qh[ib] | masks[shifts[ib]]);
      const float* xb = xbl + kBs * ib;
      set_weights(xb, qw_row ? qw_row + kQK_K * ibl + kBs * ib : nullptr, sigma2);
      for (int k = 0; k < kBs / 8; ++k) {
        const float* xx = xx_of(shifts[ib], k);
        const int g = y[ibl].qs[2 * ib + k] + ((y[ibl].qh[ib] << (8 - 4 * k)) & 0x700);
        const int8_t* pg = m.point(g);
        for (int j = 0; j < 8; ++j) {
          const float w = weight[8 * k + j];
          const float q = xx[(pg[j] - 1) / 2] * float(2 * l + 1);
          sx += w * q * xb[8 * k + j];
          s2 += w * q * q;
        }
      }
    }
    if (s2 > 0) d = sx / s2;
    const uint16_t s = to_f16(d * 1.1125f);
    sc[0] = uint16_t(sc[0] | ((s & 0x000f) << 12));
    sc[1] = uint16_t(sc[1] | ((s & 0x00f0) << 8));
    sc[2] = uint16_t(sc[2] | ((s & 0x0f00) << 4));
    sc[3] = uint16_t(sc[3] | ((s & 0xf000) << 0));
    std::memcpy(y[ibl].scales, sc, sizeof(sc));
  }
}

}  // namespace

bool is_quantize_iq_type(DType t) {
  switch (t) {
    case DType::IQ2_XXS: case DType::IQ2_XS: case DType::IQ2_S: case DType::IQ3_XXS:
    case DType::IQ3_S: case DType::IQ1_S: case DType::IQ1_M:
      return true;
    default:
      return false;
  }
}

bool iq_needs_weights(DType t) {
  return t == DType::IQ2_XXS || t == DType::IQ2_XS || t == DType::IQ2_S || t == DType::IQ3_XXS ||
         t == DType::IQ1_S || t == DType::IQ1_M;
}

void quantize_row_iq(DType t, const float* x, void* dst, int64_t n, const float* qw) {
  R1_CHECK(is_quantize_iq_type(t), "quantize_row_iq: no quantiser for {}", dtype_name(t));
  R1_CHECK(n % kQK_K == 0, "{} row of {} elements is not whole blocks of 256", dtype_name(t), n);
  R1_CHECK(qw || !(t == DType::IQ2_XXS || t == DType::IQ2_XS || t == DType::IQ1_S),
           "{} needs importance weights (an imatrix)", dtype_name(t));
  const int64_t nbl = n / kQK_K;
  switch (t) {
    case DType::IQ2_XXS: return quantize_iq2_xxs(x, static_cast<iq::BlockIQ2_XXS*>(dst), nbl, qw);
    case DType::IQ2_XS: return quantize_iq2_xs_s<false>(x, dst, nbl, qw);
    case DType::IQ2_S: return quantize_iq2_xs_s<true>(x, dst, nbl, qw);
    case DType::IQ3_XXS: return quantize_iq3_xxs(x, static_cast<iq::BlockIQ3_XXS*>(dst), nbl, qw);
    case DType::IQ3_S: return quantize_iq3_s(x, static_cast<iq::BlockIQ3_S*>(dst), nbl, qw);
    case DType::IQ1_S: return quantize_iq1_s(x, static_cast<iq::BlockIQ1_S*>(dst), nbl, qw);
    case DType::IQ1_M: return quantize_iq1_m(x, static_cast<iq::BlockIQ1_M*>(dst), nbl, qw);
    default: return;
  }
}

}  // namespace r1::quant
