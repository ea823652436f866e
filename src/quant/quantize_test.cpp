// Q8_0 / Q4_0 reference codecs: round-trip error bounds on random data, and exact codes on
// hand-built blocks where ggml's algorithm (ggml-quants.c quantize_row_q8_0_ref /
// quantize_row_q4_0_ref) gives a value that can be worked out by hand.
#include "quant/quantize.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace r1::quant {
namespace {

std::vector<float> random_blocks(int n_blocks, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::uniform_real_distribution<float> scale(-6, 3);
  std::vector<float> x(size_t(n_blocks) * 32);
  for (int b = 0; b < n_blocks; ++b) {
    const float s = std::pow(10.0f, scale(rng));  // blocks of very different magnitudes
    for (int j = 0; j < 32; ++j) x[size_t(b * 32 + j)] = nd(rng) * s;
  }
  return x;
}

TEST(Quantize, Q8_0RoundTripWithinHalfStep) {
  const int nb = 200;
  auto x = random_blocks(nb, 1);
  std::vector<BlockQ8_0> q(nb);
  std::vector<float> y(x.size());
  quantize_row_q8_0(x.data(), q.data(), int64_t(x.size()));
  dequantize_row_q8_0(q.data(), y.data(), int64_t(x.size()));
  for (int b = 0; b < nb; ++b) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[size_t(b * 32 + j)]));
    const float d = amax / 127, d16 = f16_to_f32(q[size_t(b)].d);
    // |x - q*d| <= d/2 from rounding, plus |q| * |d - f16(d)| <= 127 |d - d16| from storing d in f16.
    const double bound = d / 2.0 + 127.0 * std::fabs(double(d) - d16) + 1e-12;
    for (int j = 0; j < 32; ++j) {
      const size_t i = size_t(b * 32 + j);
      ASSERT_LE(std::fabs(double(x[i]) - y[i]), bound) << "block " << b << " elem " << j;
    }
  }
}

TEST(Quantize, Q4_0RoundTripWithinHalfStepExceptClampedMax) {
  const int nb = 200;
  auto x = random_blocks(nb, 2);
  std::vector<BlockQ4_0> q(nb);
  std::vector<float> y(x.size());
  quantize_row_q4_0(x.data(), q.data(), int64_t(x.size()));
  dequantize_row_q4_0(q.data(), y.data(), int64_t(x.size()));
  for (int b = 0; b < nb; ++b) {
    float m = 0;
    for (int j = 0; j < 32; ++j)
      if (std::fabs(x[size_t(b * 32 + j)]) > std::fabs(m)) m = x[size_t(b * 32 + j)];
    const double d = std::fabs(m / -8.0f), d16 = std::fabs(f16_to_f32(q[size_t(b)].d));
    const double f16_err = 8.0 * std::fabs(d - d16);
    for (int j = 0; j < 32; ++j) {
      const size_t i = size_t(b * 32 + j);
      // x/d near +8 (i.e. x = -m side) clamps to q=15 and may lose a whole step.
      const bool clamped = double(x[i]) / (double(m) / -8.0) >= 7.5;
      const double bound = (clamped ? d : d / 2.0) + f16_err + 1e-12;
      ASSERT_LE(std::fabs(double(x[i]) - y[i]), bound) << "block " << b << " elem " << j;
    }
  }
}

TEST(Quantize, Q8_0HandBuiltBlocks) {
  // Block 0: max |x| = 127 so d = 1 exactly and q = x. Block 1: all zero -> d = 0, q = 0.
  // Block 2: d = 2; x/d = 0.5, 1.5, -2.5 are ties: we round half to even (np.rint, as the
  // gguf-py / shared numpy writer does); ggml's C reference uses roundf (half away from zero)
  // and would give 1, 2, -3. Non-tie values agree with both.
  std::vector<float> x(96, 0.0f);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = float(j * 8 - 127);
  x[0] = -127;
  x[31] = 121;
  x[64] = -254;
  x[65] = 1;
  x[66] = 3;
  x[67] = -5;
  x[68] = 7.2f;  // 3.6 -> 4
  std::vector<BlockQ8_0> q(3);
  quantize_row_q8_0(x.data(), q.data(), 96);
  EXPECT_EQ(q[0].d, 0x3C00);  // f16 1.0
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q[0].qs[j], int8_t(x[size_t(j)])) << j;
  EXPECT_EQ(q[1].d, 0);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(q[1].qs[j], 0);
  EXPECT_EQ(q[2].d, 0x4000);  // f16 2.0
  EXPECT_EQ(q[2].qs[0], -127);
  EXPECT_EQ(q[2].qs[1], 0);
  EXPECT_EQ(q[2].qs[2], 2);
  EXPECT_EQ(q[2].qs[3], -2);
  EXPECT_EQ(q[2].qs[4], 4);
  EXPECT_EQ(q[2].qs[5], 0);
}

TEST(Quantize, Q4_0HandBuiltBlocks) {
  // Block 0: the largest |x| is -8 (signed max m = -8), so d = m / -8 = 1 and nibble = x + 8
  // for integer x in [-8, 7]; byte j packs element j (low) and j + 16 (high).
  // Block 1: m = +8, d = -1: x = 8 -> trunc(-8 + 8.5) = 0; x = -8 -> trunc(16.5) = 16,
  // clamped to 15, which decodes to -7 (the one element allowed a full-step error).
  std::vector<float> x(64, 0.0f);
  for (int j = 0; j < 32; ++j) x[size_t(j)] = float(j % 16 - 8);
  x[32] = 8;
  x[33] = -8;
  x[34] = 2.4f;  // -2.4 + 8.5 = 6.1 -> 6 -> decodes to 2
  std::vector<BlockQ4_0> q(2);
  quantize_row_q4_0(x.data(), q.data(), 64);
  EXPECT_EQ(q[0].d, 0x3C00);
  for (int j = 0; j < 16; ++j) {
    const int lo = int(x[size_t(j)]) + 8, hi = int(x[size_t(j + 16)]) + 8;
    EXPECT_EQ(q[0].qs[j], uint8_t(lo | (hi << 4))) << j;
  }
  EXPECT_EQ(q[1].d, 0xBC00);  // f16 -1.0
  EXPECT_EQ(q[1].qs[0] & 0xF, 0);
  EXPECT_EQ(q[1].qs[1] & 0xF, 15);
  EXPECT_EQ(q[1].qs[2] & 0xF, 6);
  std::vector<float> y(64);
  dequantize_row_q4_0(q.data(), y.data(), 64);
  for (int j = 0; j < 32; ++j) EXPECT_EQ(y[size_t(j)], x[size_t(j)]);
  EXPECT_EQ(y[32], 8.0f);
  EXPECT_EQ(y[33], -7.0f);
  EXPECT_EQ(y[34], 2.0f);
}

}  // namespace
}  // namespace r1::quant
