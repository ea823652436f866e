// Lookup tables the ggml IQ / MXFP4 block formats define (data in iq_tables.cpp, which names the
// llama.cpp source file and commit they come from).
#pragma once
#include <cstdint>

namespace r1::quant::iq {

/// IQ2_XXS grid: 256 points of 8 magnitudes in {8, 25, 43} (byte j of entry = element j).
extern const uint64_t kIq2xxsGrid[256];
/// IQ2_XS grid: 512 points of 8 magnitudes in {8, 25, 43}.
extern const uint64_t kIq2xsGrid[512];
/// IQ2_S grid: 1024 points of 8 magnitudes in {8, 25, 43}.
extern const uint64_t kIq2sGrid[1024];
/// IQ3_XXS grid: 256 points of 4 magnitudes (odd values 4..62).
extern const uint32_t kIq3xxsGrid[256];
/// IQ3_S grid: 512 points of 4 magnitudes in {1, 3, ..., 15}.
extern const uint32_t kIq3sGrid[512];
/// IQ1_S / IQ1_M grid: 2048 points of 8 signed values in {-1, 0, 1} (bytes as int8).
extern const uint64_t kIq1sGrid[2048];
/// 7 stored sign bits -> 8 sign bits: bit 7 makes the number of negative signs even.
extern const uint8_t kSignsIq2xs[128];
/// MXFP4 (OCP MX v1.0 E2M1) values, doubled: code -> 2 * value.
extern const int8_t kValuesMxfp4[16];

/// IQ1_S / IQ1_M offset added to every grid value, +-1/8 by a per-group sign bit (ggml IQ1S_DELTA).
inline constexpr float kIq1Delta = 0.125f;

}  // namespace r1::quant::iq
