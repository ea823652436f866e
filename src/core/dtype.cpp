#include "core/dtype.h"

#include <array>
#include <cmath>
#include <cstring>


namespace r1 {

namespace {
constexpr std::array<DTypeTraits, 32> kTraits = {{
    {"F32", 1, 4, false},
    {"F16", 1, 2, false},
    {"BF16", 1, 2, false},
    {"Q8_0", 32, 34, true},  // ggml block_q8_0: f16 d, int8 qs[32]
    {"Q4_0", 32, 18, true},  // ggml block_q4_0: f16 d, uint8 qs[16]
    {"F8_E4M3", 1, 1, false},
    {"I32", 1, 4, false},
    {"I64", 1, 8, false},
    {"U8", 1, 1, false},
    {"I8", 1, 1, false},
    // Block sizes and bytes as ggml's type_traits (ggml/src/ggml.c, the node-llama-cpp 3.21.1 release).
    {"Q4_1", 32, 20, true},
    {"Q5_0", 32, 22, true},
    {"Q5_1", 32, 24, true},
    {"Q8_1", 32, 36, true},
    {"Q2_K", 256, 84, true},
    {"Q3_K", 256, 110, true},
    {"Q4_K", 256, 144, true},
    {"Q5_K", 256, 176, true},
    {"Q6_K", 256, 210, true},
    {"Q8_K", 256, 292, true},
    {"IQ2_XXS", 256, 66, true},
    {"IQ2_XS", 256, 74, true},
    {"IQ3_XXS", 256, 98, true},
    {"IQ1_S", 256, 50, true},
    {"IQ4_NL", 32, 18, true},
    {"IQ3_S", 256, 110, true},
    {"IQ2_S", 256, 82, true},
    {"IQ4_XS", 256, 136, true},
    {"IQ1_M", 256, 56, true},
    {"TQ1_0", 256, 54, true},
    {"TQ2_0", 256, 66, true},
    {"MXFP4", 32, 17, true},
}};
static_assert(kTraits[static_cast<size_t>(DType::MXFP4)].block_bytes == 17,
              "kTraits rows follow the DType enum order");
}  // namespace

const DTypeTraits& dtype_traits(DType t) { return kTraits[static_cast<size_t>(t)]; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (size_t i = 0; i < kTraits.size(); ++i)
    if (kTraits[i].name == name) return static_cast<DType>(i);
  return std::nullopt;
}

float f16_to_f32(uint16_t h) {
  const uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f;
  uint32_t mant = h & 0x3ff;
  uint32_t u;
  if (exp == 0) {
    if (mant == 0) {
      u = sign;
    } else {  // subnormal: normalise
      int e = -1;
      do {
        ++e;
        mant <<= 1;
      } while ((mant & 0x400) == 0);
      mant &= 0x3ff;
      u = sign | (uint32_t(127 - 15 - e) << 23) | (mant << 13);
    }
  } else if (exp == 31) {
    u = sign | 0x7f800000u | (mant << 13);
  } else {
    u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint16_t sign = (x >> 16) & 0x8000;
  x &= 0x7fffffffu;
  if (x > 0x7f800000u) return sign | 0x7e00;  // NaN
  if (x >= 0x477ff000u) return sign | 0x7c00;  // overflow to inf (rounds past 65504)
  if (x < 0x38800000u) {                       // subnormal or zero in f16
    if (x < 0x33000000u) return sign;          // underflows to 0
    const uint32_t e = x >> 23;
    const uint32_t m = (x & 0x7fffff) | 0x800000;
    // value = m * 2^(e-150); the f16 subnormal unit is 2^-24, so q = m * 2^(e-126).
    const int s = 126 - int(e);
    uint32_t q = m >> s;
    const uint32_t rem = m & ((1u << s) - 1);
    const uint32_t half = 1u << (s - 1);
    if (rem > half || (rem == half && (q & 1))) ++q;
    return sign | uint16_t(q);
  }
  uint32_t u = x + 0xc8000000u;  // rebias exponent: (127-15) << 23
  const uint32_t rem = u & 0x1fff;
  u >>= 13;
  if (rem > 0x1000 || (rem == 0x1000 && (u & 1))) ++u;
  return sign | uint16_t(u);
}

uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return uint16_t(u >> 16);
}

float fp8_e4m3_to_f32(uint8_t v) {
  const bool neg = v & 0x80;
  const int exp = (v >> 3) & 0xf;
  const int mant = v & 0x7;
  float r;
  if (exp == 0xf && mant == 0x7) {
    r = std::nanf("");
  } else if (exp == 0) {
    r = std::ldexp(float(mant), -9);  // subnormal: mant/8 * 2^-6
  } else {
    r = std::ldexp(1.0f + float(mant) / 8.0f, exp - 7);
  }
  return neg ? -r : r;
}

uint8_t f32_to_fp8_e4m3(float f) {
  if (std::isnan(f)) return 0x7f;
  const uint8_t sign = std::signbit(f) ? 0x80 : 0;
  float a = std::fabs(f);
  if (a >= 448.0f) return sign | 0x7e;
  // Search the 127 non-negative finite codes for the nearest (ties to even code).
  uint8_t best = 0;
  float best_err = a;
  for (int c = 1; c <= 0x7e; ++c) {
    const float err = std::fabs(fp8_e4m3_to_f32(uint8_t(c)) - a);
    if (err < best_err || (err == best_err && (c & 1) == 0)) {
      best = uint8_t(c);
      best_err = err;
    }
  }
  return sign | best;
}

}  // namespace r1
