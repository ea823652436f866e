// K-quant / Q4_1 / Q5_x / IQ4 codecs. Layout tests build blocks by hand from the format's
// description (ggml-common.h comments and ggml-quants.c dequantize_row_*): one element at a time
// gets a known code and the decode must put exactly that value at exactly that position. Round
// trips of the Q8_K / Q8_1 activation quantisers hold the error within half a quantisation step
// (the weight quantisers are tested in quantize_k_test.cpp).
#include "quant/kquants.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "quant/dequantize.h"
#include "quant/iq4nl_values.h"

namespace r1::quant {
namespace {

constexpr uint16_t kOne = 0x3C00;  // f16 1.0

std::vector<float> decode(DType t, const void* b, int64_t n) {
  std::vector<float> y(static_cast<size_t>(n));
  dequantize_row(t, b, y.data(), n);
  return y;
}

// Every element e of a 256-block: set its code to `q` (all others to `zero_code`), decode, and
// expect want(e) at e and base elsewhere.
template <class Block, class Set>
void check_each_element(DType t, Block base, Set set, float want, float other) {
  for (int e = 0; e < kQK_K; ++e) {
    Block b = base;
    set(b, e);
    const auto y = decode(t, &b, kQK_K);
    for (int i = 0; i < kQK_K; ++i) {
      ASSERT_EQ(y[size_t(i)], i == e ? want : other) << dtype_name(t) << " element " << e << " pos " << i;
    }
  }
}

TEST(KQuants, Q2KElementLayout) {
  BlockQ2_K b{};
  b.d = kOne;
  for (auto& s : b.scales) s = 1;  // scale 1, min 0
  // Element e: bits 2 * ((e / 32) % 4) of qs[32 * (e / 128) + e % 32].
  check_each_element(DType::Q2_K, b, [](BlockQ2_K& x, int e) {
    x.qs[32 * (e / 128) + e % 32] |= uint8_t(3 << (2 * ((e / 32) % 4)));
  }, 3.0f, 0.0f);
  // Scale of sub-block j (elements 16j..16j+15) in the low nibble, min in the high nibble.
  BlockQ2_K c{};
  c.d = kOne;
  c.dmin = 0x4000;  // 2.0
  c.scales[5] = 0x32;  // scale 2, min 3
  for (auto& q : c.qs) q = 0x55;  // every code 1
  const auto y = decode(DType::Q2_K, &c, kQK_K);
  for (int e = 0; e < kQK_K; ++e) EXPECT_EQ(y[size_t(e)], e / 16 == 5 ? 2.0f - 6.0f : 0.0f) << e;
}

TEST(KQuants, Q3KElementLayoutAndScales) {
  BlockQ3_K b{};
  b.d = kOne;
  // All 16 scales = 33 (stored value; means +1): low nibble 1 in bytes 0..7 (both nibbles),
  // high bits 2 (i.e. 32) for every scale: 0b10 in each 2-bit field of bytes 8..11.
  for (int j = 0; j < 8; ++j) b.scales[j] = 0x11;
  for (int j = 8; j < 12; ++j) b.scales[j] = 0xAA;
  for (auto& h : b.hmask) h = 0xFF;  // high bit set everywhere: code = low bits (0 here)
  // Element e: low bits as Q2_K; clearing its high bit (bit e / 32 of hmask[e % 32]) subtracts 4.
  check_each_element(DType::Q3_K, b, [](BlockQ3_K& x, int e) {
    x.qs[32 * (e / 128) + e % 32] |= uint8_t(2 << (2 * ((e / 32) % 4)));
    x.hmask[e % 32] &= uint8_t(~(1u << (e / 32)));
  }, -2.0f, 0.0f);
  // Scale j = 13: low nibble in the high nibble of byte 5, high 2 bits at bits 6..7 of byte 9.
  BlockQ3_K c = b;
  c.scales[5] = 0x01 | (0x7 << 4);  // scale 13 low nibble 7 (scale 5 stays 1)
  c.scales[9] = uint8_t((c.scales[9] & 0x3F) | (3 << 6));  // scale 13 high bits 3 -> 55 - 32 = 23
  for (auto& q : c.qs) q = 0x55;  // code 1 everywhere
  const auto y = decode(DType::Q3_K, &c, kQK_K);
  for (int e = 0; e < kQK_K; ++e) EXPECT_EQ(y[size_t(e)], e / 16 == 13 ? 23.0f : 1.0f) << e;
}

TEST(KQuants, Q4KAndQ5KElementLayoutAndScales) {
  BlockQ4_K b{};
  b.d = kOne;
  for (int j = 0; j < 4; ++j) b.scales[j] = 1;      // scales 0..3 = 1
  for (int j = 8; j < 12; ++j) b.scales[j] = 0x01;  // scales 4..7 = 1, mins 4..7 = 0
  // Element 64g + l: low nibble of qs[32g + l]; 64g + 32 + l: high nibble.
  check_each_element(DType::Q4_K, b, [](BlockQ4_K& x, int e) {
    x.qs[32 * (e / 64) + e % 32] |= uint8_t(e % 64 < 32 ? 0x0B : 0xB0);
  }, 11.0f, 0.0f);
  // Scale/min 6: low nibbles in byte 10, top bits in bytes 2 (scale) and 6 (min).
  BlockQ4_K c = b;
  c.dmin = kOne;
  c.scales[10] = 0x21;        // scale 6 low 1, min 6 low 2
  c.scales[2] |= 0x40;        // scale 6 += 16 -> 17
  c.scales[6] |= 0x80;        // min 6 += 32 -> 34
  for (auto& q : c.qs) q = 0x11;
  const auto y = decode(DType::Q4_K, &c, kQK_K);
  for (int e = 0; e < kQK_K; ++e) EXPECT_EQ(y[size_t(e)], e / 32 == 6 ? 17.0f - 34.0f : 1.0f) << e;

  BlockQ5_K b5{};
  b5.d = kOne;
  std::memcpy(b5.scales, b.scales, sizeof(b.scales));
  // Fifth bit of element e: bit e / 32 of qh[e % 32].
  check_each_element(DType::Q5_K, b5, [](BlockQ5_K& x, int e) {
    x.qs[32 * (e / 64) + e % 32] |= uint8_t(e % 64 < 32 ? 0x03 : 0x30);
    x.qh[e % 32] |= uint8_t(1u << (e / 32));
  }, 19.0f, 0.0f);
}

TEST(KQuants, Q6KElementLayoutAndScales) {
  BlockQ6_K b{};
  b.d = kOne;
  for (auto& s : b.scales) s = 1;
  // Code 32 is zero: low nibbles 0, high bits 2 everywhere (0b10 in each qh field).
  for (auto& h : b.qh) h = 0xAA;
  // Element 128h + 32c + l: nibble (low for c < 2) of ql[64h + 32(c % 2) + l], bits 2c..2c+1
  // of qh[32h + l]. Code 63 = 31.
  check_each_element(DType::Q6_K, b, [](BlockQ6_K& x, int e) {
    const int h = e / 128, c = (e / 32) % 4, l = e % 32;
    x.ql[64 * h + 32 * (c % 2) + l] |= uint8_t(c < 2 ? 0x0F : 0xF0);
    x.qh[32 * h + l] |= uint8_t(1u << (2 * c));
  }, 31.0f, 0.0f);
  BlockQ6_K c = b;
  c.scales[7] = -3;
  for (auto& q : c.ql) q = 0x11;  // code 33 = +1 everywhere
  const auto y = decode(DType::Q6_K, &c, kQK_K);
  for (int e = 0; e < kQK_K; ++e) EXPECT_EQ(y[size_t(e)], e / 16 == 7 ? -3.0f : 1.0f) << e;
}

TEST(KQuants, IQ4XSElementLayoutAndScales) {
  BlockIQ4_XS b{};
  b.d = kOne;
  // Scale ls = 33 (means +1) for all 8: low nibbles 1, high bits 2 (0b10 per 2-bit field).
  for (auto& s : b.scales_l) s = 0x11;
  b.scales_h = 0xAAAA;
  for (auto& q : b.qs) q = 0x88;  // level 8 = +1 everywhere
  // Element 32j + l (l < 16): low nibble of qs[16j + l]; 32j + 16 + l: high nibble.
  check_each_element(DType::IQ4_XS, b, [](BlockIQ4_XS& x, int e) {
    const int j = e / 32, l = e % 32;
    uint8_t& q = x.qs[16 * j + l % 16];
    q = l < 16 ? uint8_t((q & 0xF0) | 0x0) : uint8_t((q & 0x0F) | 0x00);  // level 0 = -127
  }, -127.0f, 1.0f);
}

TEST(KQuants, IQ4XSLevelsAndScale) {
  BlockIQ4_XS b{};
  b.d = kOne;
  for (auto& s : b.scales_l) s = 0x11;
  b.scales_h = 0xAAAA;
  // Sub-block 5: ls low nibble in the high nibble of scales_l[2], high bits 10-11 of scales_h.
  b.scales_l[2] = 0x41;         // ls(5) low = 4
  b.scales_h = uint16_t((b.scales_h & ~(3u << 10)) | (1u << 10));  // ls(5) = 4 | 16 = 20 -> -12
  for (int l = 0; l < 16; ++l) b.qs[16 * 5 + l] = uint8_t(l | ((15 - l) << 4));
  for (int j = 0; j < 8; ++j)
    if (j != 5)
      for (int l = 0; l < 16; ++l) b.qs[16 * j + l] = 0x88;
  const auto y = decode(DType::IQ4_XS, &b, kQK_K);
  for (int e = 0; e < kQK_K; ++e) {
    float want = 1.0f;
    if (e / 32 == 5) {
      const int l = e % 32;
      want = -12.0f * float(kIq4nlValues[l < 16 ? l : 15 - (l - 16)]);
    }
    EXPECT_EQ(y[size_t(e)], want) << e;
  }
}

TEST(KQuants, Blocks32Layout) {
  // Q4_1: d * q + m; Q5_0: d * (q - 16), fifth bit of element i is bit i of qh; Q5_1: d * q + m;
  // IQ4_NL: d * level[q]. Element i < 16: low nibble of qs[i]; i >= 16: high nibble of qs[i - 16].
  for (int i = 0; i < 32; ++i) {
    BlockQ4_1 a{};
    a.d = 0x4000;  // 2
    a.m = 0xBC00;  // -1
    a.qs[i % 16] = uint8_t(i < 16 ? 0x07 : 0x70);
    auto y = decode(DType::Q4_1, &a, 32);
    for (int k = 0; k < 32; ++k) ASSERT_EQ(y[size_t(k)], k == i ? 13.0f : -1.0f) << i << " " << k;

    BlockQ5_0 b{};
    b.d = kOne;
    for (auto& q : b.qs) q = 0x00;
    std::memset(b.qh, 0xFF, 4);  // code 16 = 0 everywhere
    b.qh[i / 8] &= uint8_t(~(1u << (i % 8)));
    b.qs[i % 16] = uint8_t(i < 16 ? 0x05 : 0x50);  // code 5 -> -11
    y = decode(DType::Q5_0, &b, 32);
    for (int k = 0; k < 32; ++k) ASSERT_EQ(y[size_t(k)], k == i ? -11.0f : 0.0f) << i << " " << k;

    BlockQ5_1 c{};
    c.d = kOne;
    c.m = 0x3800;  // 0.5
    c.qh[i / 8] = uint8_t(1u << (i % 8));
    c.qs[i % 16] = uint8_t(i < 16 ? 0x02 : 0x20);  // code 18
    y = decode(DType::Q5_1, &c, 32);
    for (int k = 0; k < 32; ++k) ASSERT_EQ(y[size_t(k)], k == i ? 18.5f : 0.5f) << i << " " << k;

    BlockIQ4_NL n{};
    n.d = kOne;
    for (auto& q : n.qs) q = 0x88;
    n.qs[i % 16] = uint8_t(i < 16 ? 0x80 : 0x08);  // level 0 = -127 at i
    y = decode(DType::IQ4_NL, &n, 32);
    for (int k = 0; k < 32; ++k) ASSERT_EQ(y[size_t(k)], k == i ? -127.0f : 1.0f) << i << " " << k;
  }
}

std::vector<float> random_row(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd;
  std::uniform_real_distribution<float> sc(-3, 2);
  std::vector<float> x(static_cast<size_t>(n));
  for (int64_t b = 0; b < n / 32; ++b) {
    const float s = std::pow(10.0f, sc(rng));
    for (int j = 0; j < 32; ++j) x[size_t(b * 32 + j)] = nd(rng) * s;
  }
  return x;
}

TEST(KQuants, Q8KMatchesGgmlDefinition) {
  // Hand-worked block: the largest |x| is x[3] = -2, so iscale = -127 / -2 = 63.5;
  // q = round_half_even(63.5 x): x = 1 -> 63.5 -> 64 (even), x = -2 -> -127, x = 0.5 -> 31.75 -> 32.
  std::vector<float> x(kQK_K, 0.0f);
  x[0] = 1.0f, x[3] = -2.0f, x[17] = 0.5f;
  BlockQ8_K b;
  quantize_row_q8_K(x.data(), &b, kQK_K);
  EXPECT_EQ(b.qs[0], 64);
  EXPECT_EQ(b.qs[3], -127);
  EXPECT_EQ(b.qs[17], 32);
  EXPECT_FLOAT_EQ(b.d, 1 / 63.5f);
  EXPECT_EQ(b.bsums[0], 64 - 127);
  EXPECT_EQ(b.bsums[1], 32);
  // Random rows: within d / 2 of x; bsums are the sums of 16.
  const auto r = random_row(kQK_K * 8, 3);
  std::vector<BlockQ8_K> q(8);
  quantize_row_q8_K(r.data(), q.data(), int64_t(r.size()));
  for (int blk = 0; blk < 8; ++blk) {
    for (int j = 0; j < kQK_K; ++j)
      ASSERT_LE(std::fabs(q[size_t(blk)].d * q[size_t(blk)].qs[j] - r[size_t(blk * kQK_K + j)]),
                std::fabs(q[size_t(blk)].d) * 0.5001f);
    for (int g = 0; g < 16; ++g) {
      int s = 0;
      for (int i = 0; i < 16; ++i) s += q[size_t(blk)].qs[16 * g + i];
      ASSERT_EQ(q[size_t(blk)].bsums[g], s);
    }
  }
}

TEST(KQuants, Q81SumIsScaledCodeSum) {
  const auto r = random_row(64, 5);
  BlockQ8_1 q[2];
  quantize_row_q8_1(r.data(), q, 64);
  for (int b = 0; b < 2; ++b) {
    int s = 0;
    float amax = 0;
    for (int j = 0; j < 32; ++j) s += q[b].qs[j], amax = std::max(amax, std::fabs(r[size_t(b * 32 + j)]));
    EXPECT_EQ(q[b].s, f32_to_f16(float(s) * (amax / 127)));
    EXPECT_EQ(q[b].d, f32_to_f16(amax / 127));
  }
}

TEST(KQuants, PartialBlockIsAnError) {
  std::vector<uint8_t> raw(sizeof(BlockQ4_K));
  std::vector<float> y(300);
  EXPECT_THROW(dequantize_row(DType::Q4_K, raw.data(), y.data(), 100), CheckError);
}

}  // namespace
}  // namespace r1::quant
