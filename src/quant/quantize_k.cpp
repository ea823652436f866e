// Reference weight quantisers; see quantize_k.h. Bit-identity with llama.cpp's files depends on
// doing the same f32 operations in the same order (sums accumulate left to right, products
// associate as written), so expressions below keep that order on purpose.
#include "quant/quantize_k.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "quant/blocks_k.h"
#include "quant/iq4nl_values.h"
#include "quant/quantize_k_detail.h"

namespace r1::quant {
namespace detail {

float signed_absmax(int n, const float* x, float* amax) {
  float max = 0, a = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > a) {
      a = ax;
      max = x[i];
    }
  }
  *amax = a;
  return max;
}

// k = 0 of make_qx_quants is the plain round-to-nearest start.
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* qw) {
  float amax = 0;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -float(nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = int8_t(l + nmax);
    const float w = qw ? qw[i] : x[i] * x[i];
    sumlx += w * x[i] * float(l);
    suml2 += w * float(l) * float(l);
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(float(nmax) + 0.1f * float(is)) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
      const float w = qw ? qw[i] : x[i] * x[i];
      sumlx += w * x[i] * float(l);
      suml2 += w * float(l) * float(l);
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i)
        L[i] = int8_t(nmax + std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1));
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  auto wt = [&](int i) { return weights ? weights[i] : x[i] * x[i]; };
  float min = x[0], max = x[0];
  float sum_w = wt(0);
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = wt(i);
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    std::memset(L, 0, size_t(n));
    *the_min = -min;
    return 0.f;
  }
  float iscale = float(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = uint8_t(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    float diff = scale * float(L[i]) + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_mad += wt(i) * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = uint8_t(l);
      const float w = wt(i);
      sum_l += w * float(l);
      sum_l2 += w * float(l) * float(l);
      sum_xl += w * float(l) * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * float(Laux[i]) + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        mad += wt(i) * diff;
      }
      if (mad < best_mad) {
        std::memcpy(L, Laux, size_t(n));
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = float(nmax) / max;
  // The unclamped start levels are stored through uint8_t as ggml does.
  for (int i = 0; i < n; ++i) L[i] = uint8_t(nearest_int(iscale * x[i]));
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * float(L[i]);
    best_mse += quant_weights[i] * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * float(is) + float(nmax)) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::min(nmax, nearest_int(iscale_is * x[i]));
      const float diff = x[i] - scale_is * float(l);
      mse += quant_weights[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::min(nmax, nearest_int(iscale * x[i]));
    L[i] = uint8_t(l);
    const float w = quant_weights[i];
    sumlx += w * x[i] * float(l);
    suml2 += w * float(l) * float(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = quant_weights[i];
      float slx = sumlx - w * x[i] * float(L[i]);
      float sl2 = suml2 - w * float(L[i]) * float(L[i]);
      if (slx > 0 && sl2 > 0) {
        const int new_l = std::min(nmax, nearest_int(x[i] * sl2 / slx));
        if (new_l != L[i]) {
          slx += w * x[i] * float(new_l);
          sl2 += w * float(new_l) * float(new_l);
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = uint8_t(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Index of the level of kIq4nlValues nearest to v (ties to the lower level).
int nearest_iq4nl(float v) {
  const int8_t* val = kIq4nlValues;
  if (v <= val[0]) return 0;
  if (v >= val[15]) return 15;
  int lo = 0, hi = 15;
  while (hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    if (v < val[mid]) hi = mid;
    else lo = mid;
  }
  return v - val[hi - 1] < val[hi] - v ? hi - 1 : hi;
}

// Packs 6-bit scale ls and min lm of sub-block j into Q4_K/Q5_K's 12 scale bytes (zeroed first).
void pack_scale_min_k4(uint8_t* s, int j, uint8_t ls, uint8_t lm) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = uint8_t((ls & 0xF) | ((lm & 0xF) << 4));
    s[j - 4] |= uint8_t((ls >> 4) << 6);
    s[j] |= uint8_t((lm >> 4) << 6);
  }
}

void unpack_scale_min_k4(const uint8_t* s, int j, uint8_t& sc, uint8_t& m) {
  if (j < 4) {
    sc = s[j] & 63;
    m = s[j + 4] & 63;
  } else {
    sc = uint8_t((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    m = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

}  // namespace detail

namespace {

using detail::kGroupMaxEps;
using detail::make_qx_quants;
using detail::nearest_int;
using detail::nearest_iq4nl;
using detail::pack_scale_min_k4;
using detail::signed_absmax;
using detail::unpack_scale_min_k4;

inline void put_f16(uint16_t& dst, float v) { dst = f32_to_f16(v); }

// Q3_K's sub-block fit: start from round-to-nearest at iscale = -nmax / max, then up to 5 passes
// that move single levels to x * sum(w l^2) / sum(w x l) when that raises (sum w x l)^2 /
// sum w l^2 (w = x^2). L in [0, 2 nmax) (stored + nmax). Returns the least-squares scale.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float amax = 0;
  const float max = signed_absmax(n, x, &amax);
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -float(nmax) / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    const int l = std::clamp(nearest_int(iscale * x[i]), -nmax, nmax - 1);
    L[i] = int8_t(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * float(l);
    suml2 += w * float(l) * float(l);
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * float(L[i]);
      if (slx > 0) {
        float sl2 = suml2 - w * float(L[i]) * float(L[i]);
        const int new_l = std::clamp(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
        if (new_l != L[i]) {
          slx += w * x[i] * float(new_l);
          sl2 += w * float(new_l) * float(new_l);
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = int8_t(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Asymmetric fit x ~ scale * L - the_min with L in [0, nmax] minimising sum w |err|^p
// (p = 1 when use_mad, else 2): start at the range (min clipped to <= 0), then try
// iscale = (rmin + rdelta k + nmax) / (max - min) for k = 0..nstep, each followed by the weighted
// least-squares scale and min for its levels. Returns scale; *the_min = -min >= 0.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = float(nmax) / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    L[i] = uint8_t(std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax));
    float diff = scale * float(L[i]) + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * float(is) + float(nmax)) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(nearest_int(iscale * (x[i] - min)), 0, nmax);
      Laux[i] = uint8_t(l);
      const float w = weights[i];
      sum_l += w * float(l);
      sum_l2 += w * float(l) * float(l);
      sum_xl += w * float(l) * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * float(Laux[i]) + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        std::memcpy(L, Laux, size_t(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb, bool five_bits, BlockQ5_1* y5) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float min = FLT_MAX, max = -FLT_MAX;
    for (int j = 0; j < 32; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    const float d = (max - min) / (five_bits ? 31.f : 15.f);
    const float id = d ? 1.0f / d : 0.0f;
    uint8_t* qs = five_bits ? y5[i].qs : y[i].qs;
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const float x0 = (x[j] - min) * id, x1 = (x[j + 16] - min) * id;
      // The truncations through int8_t / uint8_t are the format's reference rounding.
      uint8_t q0 = uint8_t(int8_t(x0 + 0.5f)), q1 = uint8_t(int8_t(x1 + 0.5f));
      if (!five_bits) {
        q0 = std::min<uint8_t>(15, q0);
        q1 = std::min<uint8_t>(15, q1);
      } else {
        q0 = uint8_t(x0 + 0.5f);
        q1 = uint8_t(x1 + 0.5f);
        qh |= uint32_t((q0 & 0x10u) >> 4) << j;
        qh |= uint32_t((q1 & 0x10u) >> 4) << (j + 16);
      }
      qs[j] = uint8_t((q0 & 0x0F) | ((q1 & 0x0F) << 4));
    }
    if (five_bits) {
      put_f16(y5[i].d, d);
      put_f16(y5[i].m, min);
      std::memcpy(y5[i].qh, &qh, 4);
    } else {
      put_f16(y[i].d, d);
      put_f16(y[i].m, min);
    }
  }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j)
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    const float d = max / -16;
    const float id = d ? 1.0f / d : 0.0f;
    put_f16(y[i].d, d);
    uint32_t qh = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t q0 = std::min<uint8_t>(31, uint8_t(int8_t(x[j] * id + 16.5f)));
      const uint8_t q1 = std::min<uint8_t>(31, uint8_t(int8_t(x[j + 16] * id + 16.5f)));
      y[i].qs[j] = uint8_t((q0 & 0x0F) | ((q1 & 0x0F) << 4));
      qh |= uint32_t((q0 & 0x10u) >> 4) << j;
      qh |= uint32_t((q1 & 0x10u) >> 4) << (j + 16);
    }
    std::memcpy(y[i].qh, &qh, 4);
  }
}

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nb) {
  uint8_t L[kQK_K], Laux[16];
  float weights[16], mins[16], scales[16];
  const float q4scale = 15.f;
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 16; ++j) {
      for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
      scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                   0.1f, 15, true);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    if (max_scale > 0) {
      const float iscale = q4scale / max_scale;
      for (int j = 0; j < 16; ++j) y[i].scales[j] = uint8_t(nearest_int(iscale * scales[j]));
      put_f16(y[i].d, max_scale / q4scale);
    } else {
      std::memset(y[i].scales, 0, 16);
      put_f16(y[i].d, 0.f);
    }
    if (max_min > 0) {
      const float iscale = q4scale / max_min;
      for (int j = 0; j < 16; ++j) y[i].scales[j] |= uint8_t(nearest_int(iscale * mins[j]) << 4);
      put_f16(y[i].dmin, max_min / q4scale);
    } else {
      put_f16(y[i].dmin, 0.f);
    }
    // Re-assign the levels against the rounded scales actually stored.
    for (int j = 0; j < 16; ++j) {
      const float d = f16_to_f32(y[i].d) * float(y[i].scales[j] & 0xF);
      if (!d) continue;
      const float dm = f16_to_f32(y[i].dmin) * float(y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = uint8_t(std::clamp(nearest_int((x[16 * j + ii] + dm) / d), 0, 3));
    }
    for (int j = 0; j < kQK_K; j += 128)
      for (int l = 0; l < 32; ++l)
        y[i].qs[j / 4 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                     (L[j + l + 96] << 6));
  }
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nb) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
      scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
      if (std::fabs(scales[j]) > amax) {
        amax = std::fabs(scales[j]);
        max_scale = scales[j];
      }
    }
    std::memset(y[i].scales, 0, 12);
    if (max_scale) {
      const float iscale = -32.f / max_scale;
      for (int j = 0; j < 16; ++j) {
        int l = std::clamp(int(int8_t(nearest_int(iscale * scales[j]))), -32, 31) + 32;
        if (j < 8) y[i].scales[j] = uint8_t(l & 0xF);
        else y[i].scales[j - 8] |= uint8_t((l & 0xF) << 4);
        l >>= 4;
        y[i].scales[j % 4 + 8] |= uint8_t(l << (2 * (j / 4)));
      }
      put_f16(y[i].d, 1 / iscale);
    } else {
      put_f16(y[i].d, 0.f);
    }
    for (int j = 0; j < 16; ++j) {
      int sc = j < 8 ? y[i].scales[j] & 0xF : y[i].scales[j - 8] >> 4;
      sc = (sc | (((y[i].scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
      const float d = f16_to_f32(y[i].d) * float(sc);
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = int8_t(std::clamp(nearest_int(x[16 * j + ii] / d), -4, 3) + 4);
    }
    // High bit of element j goes to bit j / 32 of hmask[j % 32].
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

// Q4_K (bits 4) and Q5_K (bits 5): 8 sub-blocks of 32 with make_qkx2 scales and mins.
template <int kBits, typename Block>
void quantize_q45_k(const float* x, Block* y, int64_t nb) {
  constexpr int nmax = (1 << kBits) - 1;
  const float rmin = kBits == 4 ? -1.f : -0.5f;
  const int nstep = kBits == 4 ? 20 : 15;
  uint8_t L[kQK_K], Laux[32];
  float weights[32], mins[8], scales[8];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin,
                                   0.1f, nstep, false);
      max_scale = std::max(max_scale, scales[j]);
      max_min = std::max(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < 8; ++j) {
      const uint8_t ls = std::min<uint8_t>(63, uint8_t(nearest_int(inv_scale * scales[j])));
      const uint8_t lm = std::min<uint8_t>(63, uint8_t(nearest_int(inv_min * mins[j])));
      pack_scale_min_k4(y[i].scales, j, ls, lm);
    }
    put_f16(y[i].d, max_scale / 63.f);
    put_f16(y[i].dmin, max_min / 63.f);
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
        for (int l = 0; l < 32; ++l)
          y[i].qs[j / 2 + l] = uint8_t(L[j + l] | (L[j + l + 32] << 4));
    } else {
      // Low nibbles as Q4_K; the fifth bit of 64-group g goes to bit 2g (first 32) / 2g + 1 of qh.
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


// The IQ4 scale search for one group of 32 (ggml quantize_row_iq4_nl_impl, ntry 7): the start
// d = max / -127 and 15 trial inverse scales (itry - 127) / max, each scored by the weighted
// least-squares (sum w q x)^2 / sum w q^2. Returns the best least-squares scale (0 for an all-zero
// group, Lb then untouched); Lb gets round-to-nearest levels at the start scale.
float iq4_group_scale(const float* xb, const float* weight, uint8_t* Lb) {
  constexpr int kNtry = 7;
  float amax = 0;
  const float max = signed_absmax(32, xb, &amax);
  if (amax < kGroupMaxEps) return 0;
  const float v0 = float(kIq4nlValues[0]);
  float d = -max / v0;
  float id = 1 / d;
  float sumqx = 0, sumq2 = 0;
  for (int j = 0; j < 32; ++j) {
    const int l = nearest_iq4nl(id * xb[j]);
    Lb[j] = uint8_t(l);
    const float q = float(kIq4nlValues[l]);
    sumqx += weight[j] * q * xb[j];
    sumq2 += weight[j] * q * q;
  }
  d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
  float best = d * sumqx;
  for (int itry = -kNtry; itry <= kNtry; ++itry) {
    id = (float(itry) + v0) / max;
    sumqx = sumq2 = 0;
    for (int j = 0; j < 32; ++j) {
      const float q = float(kIq4nlValues[nearest_iq4nl(id * xb[j])]);
      sumqx += weight[j] * q * xb[j];
      sumq2 += weight[j] * q * q;
    }
    if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
      d = sumqx / sumq2;
      best = d * sumqx;
    }
  }
  return d;
}

// The weights of one group of 32 at xb: x^2 without an importance matrix, else
// qw * sqrt(sigma2 + x^2) with sigma2 = 2 * mean x^2 over the (super-)block (ggml).
void iq4_weights(const float* xb, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < 32; ++j)
    weight[j] = qw ? qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]) : xb[j] * xb[j];
}

float iq4_sigma2(const float* x, int n) {
  float s = 0;
  for (int j = 0; j < n; ++j) s += x[j] * x[j];
  return s * (2.f / float(n));
}

void pack_iq4_nibbles(const uint8_t* L, uint8_t* qs, int n) {
  for (int i = 0; i < n / 32; ++i)
    for (int j = 0; j < 16; ++j) qs[16 * i + j] = uint8_t(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

void quantize_iq4_nl(const float* x, BlockIQ4_NL* y, int64_t nb, const float* qw) {
  uint8_t L[32];
  float weight[32];
  for (int64_t i = 0; i < nb; ++i, x += 32) {
    std::memset(L, 0, sizeof(L));
    iq4_weights(x, qw ? qw + 32 * i : nullptr, iq4_sigma2(x, 32), weight);
    const float d = iq4_group_scale(x, weight, L);
    put_f16(y[i].d, d);
    const float id = d ? 1 / d : 0;
    for (int j = 0; j < 32; ++j) L[j] = uint8_t(nearest_iq4nl(id * x[j]));
    pack_iq4_nibbles(L, y[i].qs, 32);
  }
}

void quantize_iq4_xs(const float* x, BlockIQ4_XS* y, int64_t nb, const float* qw) {
  uint8_t L[kQK_K];
  float scales[8], weight[32];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    const float sigma2 = iq4_sigma2(x, kQK_K);
    float max_scale = 0, amax_scale = 0;
    for (int ib = 0; ib < 8; ++ib) {
      iq4_weights(x + 32 * ib, qw ? qw + kQK_K * i + 32 * ib : nullptr, sigma2, weight);
      scales[ib] = iq4_group_scale(x + 32 * ib, weight, L + 32 * ib);
      if (std::fabs(scales[ib]) > amax_scale) {
        amax_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    y[i].scales_h = 0;
    const float d = -max_scale / 32;
    put_f16(y[i].d, d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < 8; ++ib) {
      int l = std::clamp(nearest_int(id * scales[ib]), -32, 31);
      const float dl = d * float(l);
      const float idl = dl ? 1 / dl : 0.f;
      for (int j = 0; j < 32; ++j) L[32 * ib + j] = uint8_t(nearest_iq4nl(idl * x[32 * ib + j]));
      l += 32;
      const uint8_t l_l = uint8_t(l & 0xf), l_h = uint8_t(l >> 4);
      if (ib % 2 == 0) y[i].scales_l[ib / 2] = l_l;
      else y[i].scales_l[ib / 2] |= uint8_t(l_l << 4);
      y[i].scales_h = uint16_t(y[i].scales_h | (l_h << (2 * ib)));
    }
    pack_iq4_nibbles(L, y[i].qs, kQK_K);
  }
}

}  // namespace

namespace detail {

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb, const float* quant_weights) {
  int8_t L[kQK_K];
  float scales[16];
  for (int64_t i = 0; i < nb; ++i, x += kQK_K) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < 16; ++ib) {
      scales[ib] = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib,
                                  quant_weights ? quant_weights + kQK_K * i + 16 * ib : nullptr);
      if (std::fabs(scales[ib]) > max_abs_scale) {
        max_abs_scale = std::fabs(scales[ib]);
        max_scale = scales[ib];
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6_K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    put_f16(y[i].d, 1 / iscale);
    for (int ib = 0; ib < 16; ++ib)
      y[i].scales[ib] = int8_t(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < 16; ++j) {
      const float d = f16_to_f32(y[i].d) * float(y[i].scales[j]);
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii)
        L[16 * j + ii] = int8_t(std::clamp(nearest_int(x[16 * j + ii] / d), -32, 31) + 32);
    }
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK_K; j += 128, ql += 64, qh += 32)
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = uint8_t((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = uint8_t((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = uint8_t((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
      }
  }
}

}  // namespace detail

bool is_quantize_k_type(DType t) {
  switch (t) {
    case DType::Q4_1: case DType::Q5_0: case DType::Q5_1: case DType::Q2_K: case DType::Q3_K:
    case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: case DType::IQ4_NL: case DType::IQ4_XS:
      return true;
    default:
      return false;
  }
}

void quantize_row_k(DType t, const float* x, void* dst, int64_t n, const float* quant_weights) {
  R1_CHECK(is_quantize_k_type(t), "quantize_row_k: no quantiser for {}", dtype_name(t));
  const int64_t bs = dtype_traits(t).block_size;
  R1_CHECK(n % bs == 0, "{} row of {} elements is not whole blocks of {}", dtype_name(t), n, bs);
  const int64_t nb = n / bs;
  if (quant_weights && detail::has_weighted_k_quantiser(t))
    return detail::quantize_row_k_weighted(t, x, dst, n, quant_weights);
  switch (t) {
    case DType::Q4_1: return quantize_q4_1(x, static_cast<BlockQ4_1*>(dst), nb, false, nullptr);
    case DType::Q5_1: return quantize_q4_1(x, nullptr, nb, true, static_cast<BlockQ5_1*>(dst));
    case DType::Q5_0: return quantize_q5_0(x, static_cast<BlockQ5_0*>(dst), nb);
    case DType::Q2_K: return quantize_q2_k(x, static_cast<BlockQ2_K*>(dst), nb);
    case DType::Q3_K: return quantize_q3_k(x, static_cast<BlockQ3_K*>(dst), nb);
    case DType::Q4_K: return quantize_q45_k<4>(x, static_cast<BlockQ4_K*>(dst), nb);
    case DType::Q5_K: return quantize_q45_k<5>(x, static_cast<BlockQ5_K*>(dst), nb);
    case DType::Q6_K: return detail::quantize_q6_k(x, static_cast<BlockQ6_K*>(dst), nb, nullptr);
    case DType::IQ4_NL: return quantize_iq4_nl(x, static_cast<BlockIQ4_NL*>(dst), nb, quant_weights);
    case DType::IQ4_XS: return quantize_iq4_xs(x, static_cast<BlockIQ4_XS*>(dst), nb, quant_weights);
    default: return;
  }
}

}  // namespace r1::quant
