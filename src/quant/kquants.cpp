#include "quant/kquants.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "quant/iq4nl_values.h"
#include "quant/kquants_unpack.h"

namespace r1::quant {

bool is_unpack_k_type(DType t) {
  return t == DType::Q2_K || t == DType::Q3_K || t == DType::Q4_K || t == DType::Q5_K ||
         t == DType::Q6_K || t == DType::IQ4_XS;
}

bool is_unpack_32_type(DType t) {
  return t == DType::Q4_1 || t == DType::Q5_0 || t == DType::Q5_1 || t == DType::IQ4_NL;
}

void unpack_k(DType t, const void* b, UnpackedK& u) {
  switch (t) {
    case DType::Q2_K: return unpack::unpack_block_k<DType::Q2_K>(b, u);
    case DType::Q3_K: return unpack::unpack_block_k<DType::Q3_K>(b, u);
    case DType::Q4_K: return unpack::unpack_block_k<DType::Q4_K>(b, u);
    case DType::Q5_K: return unpack::unpack_block_k<DType::Q5_K>(b, u);
    case DType::Q6_K: return unpack::unpack_block_k<DType::Q6_K>(b, u);
    case DType::IQ4_XS: return unpack::unpack_block_k<DType::IQ4_XS>(b, u);
    default: R1_CHECK(false, "unpack_k: {} is not a K-quant", dtype_name(t));
  }
}

void unpack_32(DType t, const void* b, Unpacked32& u) {
  switch (t) {
    case DType::Q4_1: return unpack::unpack_block32<DType::Q4_1>(b, u);
    case DType::Q5_0: return unpack::unpack_block32<DType::Q5_0>(b, u);
    case DType::Q5_1: return unpack::unpack_block32<DType::Q5_1>(b, u);
    case DType::IQ4_NL: return unpack::unpack_block32<DType::IQ4_NL>(b, u);
    default: R1_CHECK(false, "unpack_32: {} is not a 32-element type here", dtype_name(t));
  }
}

void dequantize_row_k(DType t, const void* src, float* y, int64_t n) {
  const auto& tr = dtype_traits(t);
  R1_CHECK(n % tr.block_size == 0, "{} row of {} elements is not whole blocks", tr.name, n);
  const auto* p = static_cast<const uint8_t*>(src);
  if (is_unpack_k_type(t)) {
    UnpackedK u;
    for (int64_t b = 0; b < n / kQK_K; ++b) {
      unpack_k(t, p + b * tr.block_bytes, u);
      float* yb = y + b * kQK_K;
      for (int e = 0; e < kQK_K; ++e) {
        const int s = e / u.sub;
        yb[e] = u.d * float(u.scale[s]) * float(u.q[e]) - u.dmin * float(u.min[s]);
      }
    }
    return;
  }
  Unpacked32 u;
  for (int64_t b = 0; b < n / 32; ++b) {
    unpack_32(t, p + b * tr.block_bytes, u);
    for (int j = 0; j < 32; ++j) y[b * 32 + j] = u.d * float(u.q[j]) + u.m;
  }
}

void quantize_row_q8_K(const float* x, BlockQ8_K* dst, int64_t n) {
  R1_CHECK(n % kQK_K == 0, "Q8_K row of {} elements", n);
  for (int64_t b = 0; b < n / kQK_K; ++b) {
    const float* xb = x + b * kQK_K;
    BlockQ8_K& y = dst[b];
    float amax = 0, m = 0;
    for (int j = 0; j < kQK_K; ++j)
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        m = xb[j];
      }
    if (amax == 0) {
      std::memset(&y, 0, sizeof(y));
      continue;
    }
    const float iscale = -127.0f / m;
    for (int j = 0; j < kQK_K; ++j)
      y.qs[j] = int8_t(std::min(127, int(std::nearbyint(iscale * xb[j]))));
    for (int j = 0; j < kQK_K / 16; ++j) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += y.qs[16 * j + i];
      y.bsums[j] = int16_t(s);
    }
    y.d = 1 / iscale;
  }
}

void quantize_row_q8_1(const float* x, BlockQ8_1* dst, int64_t n) {
  R1_CHECK(n % 32 == 0, "Q8_1 row of {} elements", n);
  for (int64_t b = 0; b < n / 32; ++b) {
    const float* xb = x + b * 32;
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = amax > 0 ? 127.0f / amax : 0.0f;  // as ggml-cpu's x86 quantize_row_q8_1
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      dst[b].qs[j] = int8_t(std::nearbyint(xb[j] * id));
      sum += dst[b].qs[j];
    }
    dst[b].d = f32_to_f16(d);
    dst[b].s = f32_to_f16(float(sum) * d);
  }
}

}  // namespace r1::quant
