// GGUF block-quantised formats, laid out byte for byte as ggml's block_q8_0 / block_q4_0
// (ggml/src/ggml-common.h), so GGUF tensor data is used in place without conversion.
#pragma once
#include <cstdint>

#include "core/dtype.h"

namespace r1 {

inline constexpr int kQK8_0 = 32;
inline constexpr int kQK4_0 = 32;

/// Q8_0: x[i] = d * qs[i], d an IEEE f16 scale = max|x| / 127.
struct BlockQ8_0 {
  uint16_t d;  // f16 bits
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

/// Q4_0: x[i] = d * (q[i] - 8), q 4-bit; byte j holds element j (low nibble) and j+16 (high nibble).
struct BlockQ4_0 {
  uint16_t d;  // f16 bits
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

}  // namespace r1
