#include "quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/check.h"
#include "core/tensor.h"
#include "quant/quantize_iq.h"
#include "quant/quantize_k.h"
#include "quant/quantize_k_detail.h"

namespace r1::quant {

void quantize_row_q8_0(const float* x, BlockQ8_0* dst, int64_t n) {
  R1_CHECK(n % kQK8_0 == 0, "Q8_0 row of {} elements", n);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    // 127 / amax, not 1 / d: they differ in the last bit for some amax, and activations made
    // from a quantised embedding row sit on exact halves of the grid, where that bit decides
    // the rounding (ggml-cpu's x86 quantize_row_q8_0 uses 127 / amax).
    const float id = amax > 0 ? 127.0f / amax : 0.0f;
    dst[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK8_0; ++j) dst[b].qs[j] = int8_t(std::nearbyint(xb[j] * id));
  }
}

void quantize_row_q4_0(const float* x, BlockQ4_0* dst, int64_t n) {
  R1_CHECK(n % kQK4_0 == 0, "Q4_0 row of {} elements", n);
  for (int64_t b = 0; b < n / kQK4_0; ++b) {
    const float* xb = x + b * kQK4_0;
    float amax = 0.0f, m = 0.0f;
    for (int j = 0; j < kQK4_0; ++j) {
      if (std::fabs(xb[j]) > amax) {
        amax = std::fabs(xb[j]);
        m = xb[j];
      }
    }
    const float d = m / -8.0f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    dst[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK4_0 / 2; ++j) {
      const int q0 = std::min(15, int(xb[j] * id + 8.5f));
      const int q1 = std::min(15, int(xb[j + kQK4_0 / 2] * id + 8.5f));
      dst[b].qs[j] = uint8_t(q0 | (q1 << 4));
    }
  }
}

void dequantize_row_q8_0(const BlockQ8_0* src, float* y, int64_t n) {
  convert_row_to_f32(DType::Q8_0, src, y, n);
}

void dequantize_row_q4_0(const BlockQ4_0* src, float* y, int64_t n) {
  convert_row_to_f32(DType::Q4_0, src, y, n);
}

namespace {
// Q8_0 as ggml's file writer makes it (quantize_row_q8_0_ref): q = roundf(x / d), halves away
// from zero. quantize_row_q8_0 (activations) rounds halves to even as ggml's SIMD activation
// quantiser does; the two differ only on exact halves.
void quantize_row_q8_0_weights(const float* x, BlockQ8_0* dst, int64_t n) {
  R1_CHECK(n % kQK8_0 == 0, "Q8_0 row of {} elements", n);
  for (int64_t b = 0; b < n / kQK8_0; ++b) {
    const float* xb = x + b * kQK8_0;
    float amax = 0.0f;
    for (int j = 0; j < kQK8_0; ++j) amax = std::max(amax, std::fabs(xb[j]));
    const float d = amax / 127.0f;
    const float id = d ? 1.0f / d : 0.0f;
    dst[b].d = f32_to_f16(d);
    for (int j = 0; j < kQK8_0; ++j) dst[b].qs[j] = int8_t(std::round(xb[j] * id));
  }
}
}  // namespace

bool can_quantize(DType t) {
  return t == DType::F32 || t == DType::F16 || t == DType::BF16 || t == DType::Q8_0 ||
         t == DType::Q4_0 || t == DType::F8_E4M3 || is_quantize_k_type(t) ||
         is_quantize_iq_type(t);
}

void quantize_row(DType t, const float* x, void* dst, int64_t n, const float* quant_weights) {
  if (is_quantize_k_type(t)) return quantize_row_k(t, x, dst, n, quant_weights);
  if (is_quantize_iq_type(t)) return quantize_row_iq(t, x, dst, n, quant_weights);
  if (t == DType::Q4_0 && quant_weights)
    return detail::quantize_row_k_weighted(t, x, dst, n, quant_weights);
  auto* out = static_cast<uint8_t*>(dst);
  switch (t) {
    case DType::F32:
      std::memcpy(dst, x, size_t(n) * 4);
      return;
    case DType::F16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_f16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        const uint16_t h = f32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::Q8_0:
      quantize_row_q8_0_weights(x, static_cast<BlockQ8_0*>(dst), n);
      return;
    case DType::Q4_0:
      quantize_row_q4_0(x, static_cast<BlockQ4_0*>(dst), n);
      return;
    case DType::F8_E4M3:
      for (int64_t i = 0; i < n; ++i) out[i] = f32_to_fp8_e4m3(x[i]);
      return;
    default:
      R1_CHECK(false, "cannot quantize to {}", dtype_name(t));
  }
}

}  // namespace r1::quant
