// IQ / TQ / MXFP4 codecs: the format tables against properties the formats define, dequantised
// values of hand-built blocks worked out from the ggml formulas by hand, the Q8_K activation
// quantiser on hand-checked inputs, and unpack_block (what the kernels dot with) against the
// dequantiser on random blocks. Random bytes are valid blocks of these formats: every index
// field addresses a full table (8/9/10/11 bits into 256/512/1024/2048 entries); only the f16 /
// E8M0 scales are set here to finite values.
#include "quant/iq_codec.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/check.h"
#include "quant/iq_tables.h"

namespace r1::quant::iq {
namespace {

const DType kAll[] = {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S,
                      DType::IQ1_S,   DType::IQ1_M,  DType::TQ1_0, DType::TQ2_0,   DType::MXFP4};

// Overwrites the scale field(s) of block b of type t with the f16 of d (MXFP4: exponent e).
void set_scale(DType t, uint8_t* b, float d, uint8_t e = 127) {
  const uint16_t h = f32_to_f16(d);
  switch (t) {
    case DType::TQ1_0: std::memcpy(b + 52, &h, 2); return;
    case DType::TQ2_0: std::memcpy(b + 64, &h, 2); return;
    case DType::MXFP4: b[0] = e; return;
    case DType::IQ1_M: {  // top nibble of each of the 4 scale words holds 4 bits of the f16
      uint16_t sc[4];
      std::memcpy(sc, b + 48, 8);
      for (int i = 0; i < 4; ++i) sc[i] = uint16_t((sc[i] & 0x0fff) | (((h >> (4 * i)) & 0xf) << 12));
      std::memcpy(b + 48, sc, 8);
      return;
    }
    default: std::memcpy(b, &h, 2); return;
  }
}

std::vector<uint8_t> random_blocks(DType t, int nb, std::mt19937& rng) {
  const auto& tr = dtype_traits(t);
  std::vector<uint8_t> v(size_t(nb * tr.block_bytes));
  for (auto& c : v) c = uint8_t(rng());
  std::uniform_real_distribution<float> ud(0.01f, 1.0f);
  std::uniform_int_distribution<int> ue(110, 135);
  for (int i = 0; i < nb; ++i) set_scale(t, v.data() + i * tr.block_bytes, ud(rng), uint8_t(ue(rng)));
  return v;
}

TEST(IqTables, SignTableIsSevenBitsPlusEvenParity) {
  for (int i = 0; i < 128; ++i)
    EXPECT_EQ(kSignsIq2xs[i], i | ((std::popcount(unsigned(i)) & 1) << 7)) << i;
}

TEST(IqTables, GridValuesAreTheFormatsLevels) {
  auto bytes_in = [](uint64_t g, int n, auto ok) {
    for (int j = 0; j < n; ++j)
      if (!ok(int((g >> (8 * j)) & 0xff))) return false;
    return true;
  };
  auto iq2 = [](int v) { return v == 8 || v == 25 || v == 43; };
  for (uint64_t g : kIq2xxsGrid) EXPECT_TRUE(bytes_in(g, 8, iq2));
  for (uint64_t g : kIq2xsGrid) EXPECT_TRUE(bytes_in(g, 8, iq2));
  for (uint64_t g : kIq2sGrid) EXPECT_TRUE(bytes_in(g, 8, iq2));
  for (uint32_t g : kIq3xxsGrid) EXPECT_TRUE(bytes_in(g, 4, [](int v) { return v % 2 == 0 && v >= 4 && v <= 62; }));
  for (uint32_t g : kIq3sGrid) EXPECT_TRUE(bytes_in(g, 4, [](int v) { return v % 2 == 1 && v <= 15; }));
  for (uint64_t g : kIq1sGrid) EXPECT_TRUE(bytes_in(g, 8, [](int v) { return v == 0 || v == 1 || v == 0xff; }));
  // The grids are sets: no point twice (a transcription slip would likely duplicate or break one).
  std::vector<uint64_t> s(std::begin(kIq1sGrid), std::end(kIq1sGrid));
  std::sort(s.begin(), s.end());
  EXPECT_EQ(std::unique(s.begin(), s.end()), s.end());
  EXPECT_EQ(kValuesMxfp4[7], 12);
  EXPECT_EQ(kValuesMxfp4[13], -6);
}

TEST(IqCodec, HandBuiltBlocks) {
  std::vector<float> y(256);
  {  // IQ2_XXS: d = 1, index 0 (all 8s) everywhere, group 0: scale 3, signs code 1 of sub-block 0
    BlockIQ2_XXS b{};
    b.d = f32_to_f16(1.0f);
    b.qs[2] = 1;  // aux32[1] of group 0 = qs[2] | qs[3] << 16 = 0x30000001
    b.qs[3] = 0x3000;
    dequantize_row(DType::IQ2_XXS, &b, y.data(), 256);
    // db = 1 * (0.5 + 3) / 4 = 0.875; 8 * 0.875 = 7; sign code 1 -> bits 0 and 7 negative.
    EXPECT_EQ(y[0], -7.0f);
    EXPECT_EQ(y[1], 7.0f);
    EXPECT_EQ(y[7], -7.0f);
    EXPECT_EQ(y[8], 7.0f);
    EXPECT_EQ(y[32], 1.0f);  // group 1: scale 0 -> 8 * 0.5 / 4
  }
  {  // IQ3_S: d = 0.5, scales low nibble 2 -> db = 0.5 * 5; index 0 = (1,1,1,1)
    BlockIQ3_S b{};
    b.d = f32_to_f16(0.5f);
    b.scales[0] = 0x12;       // group 0: s = 2, group 1: s = 1
    b.qh[0] = 1;              // element group 0 takes index 256 + qs[0]
    b.signs[0] = 0x10;        // element 4 negative
    dequantize_row(DType::IQ3_S, &b, y.data(), 256);
    const float g256 = float(kIq3sGrid[256] & 0xff);
    EXPECT_EQ(y[0], 2.5f * g256);
    EXPECT_EQ(y[4], -2.5f);
    EXPECT_EQ(y[32], 1.5f);
  }
  {  // IQ1_S: d = 1, group 0 scale 1 (ls 3), negative delta; index 0 = all -1
    BlockIQ1_S b{};
    b.d = f32_to_f16(1.0f);
    b.qh[0] = uint16_t(0x8000 | (1 << 12));
    dequantize_row(DType::IQ1_S, &b, y.data(), 256);
    EXPECT_EQ(y[0], 3.0f * (-1.0f - 0.125f));
    EXPECT_EQ(y[32], 1.0f * (-1.0f + 0.125f));
  }
  {  // IQ1_M: super-scale f16 2.0 spread over the top nibbles; sub-scales 0; qh[0] = 0x80:
     // elements 8..15 (index 0, all -1) get delta -1/8, 0..7 +1/8.
    uint8_t raw[56] = {};
    set_scale(DType::IQ1_M, raw, 2.0f);
    raw[32] = 0x80;
    dequantize_row(DType::IQ1_M, raw, y.data(), 256);
    EXPECT_EQ(y[0], 2.0f * (-1.0f + 0.125f));
    EXPECT_EQ(y[8], 2.0f * (-1.0f - 0.125f));
  }
  {  // TQ2_0: byte 0 = 0b10'01'00'11 -> elements 0, 32, 64, 96 = q - 1 = 2, -1, 0, 1
    BlockTQ2_0 b{};
    b.d = f32_to_f16(0.5f);
    b.qs[0] = 0b10010011;
    for (int i = 1; i < 64; ++i) b.qs[i] = 0x55;  // all q = 1 -> 0
    dequantize_row(DType::TQ2_0, &b, y.data(), 256);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[32], -0.5f);
    EXPECT_EQ(y[64], 0.0f);
    EXPECT_EQ(y[96], 0.5f);
    EXPECT_EQ(y[1], 0.0f);
  }
  {  // TQ1_0: byte 0 holds the trits (2, 0, 1, 2, 2) as 256 * 0.20112... : value
     // sum digit_n * 3^(4-n) = 2*81 + 0*27 + 1*9 + 2*3 + 2 = 179, stored as ceil(179 * 256 / 243).
    BlockTQ1_0 b{};
    b.d = f32_to_f16(1.0f);
    b.qs[0] = uint8_t((179 * 256 + 242) / 243);
    for (int i = 1; i < 48; ++i) b.qs[i] = uint8_t((121 * 256 + 242) / 243);  // 11111 -> zeros
    for (int i = 0; i < 4; ++i) b.qh[i] = uint8_t((121 * 256 + 242) / 243);
    dequantize_row(DType::TQ1_0, &b, y.data(), 256);
    EXPECT_EQ(y[0], 1.0f);
    EXPECT_EQ(y[32], -1.0f);
    EXPECT_EQ(y[64], 0.0f);
    EXPECT_EQ(y[96], 1.0f);
    EXPECT_EQ(y[128], 1.0f);
    EXPECT_EQ(y[1], 0.0f);
    EXPECT_EQ(y[255], 0.0f);
  }
  {  // MXFP4: e = 128 -> scale 2^(128-127) = 2; code 7 = E2M1 6.0 -> 12, code 9 = -0.5 -> -1
    BlockMXFP4 b{};
    b.e = 128;
    b.qs[0] = 0x97;
    dequantize_row(DType::MXFP4, &b, y.data(), 32);
    EXPECT_EQ(y[0], 12.0f);
    EXPECT_EQ(y[16], -1.0f);
    EXPECT_EQ(y[1], 0.0f);
  }
}

TEST(IqCodec, Q8KQuantizer) {
  std::vector<float> x(256, 0.0f);
  x[0] = -2.0f;  // largest magnitude, negative: d = 2 / 127, q = -127 * x / -2
  x[1] = 1.0f;
  x[2] = 2.0f / 127 * 2.5f;  // exactly half way: rounds to even (2)
  std::vector<int8_t> q(256);
  float d = 0;
  quantize_row_q8_K(x.data(), q.data(), &d, 256);
  EXPECT_FLOAT_EQ(d, 2.0f / 127);
  EXPECT_EQ(q[0], -127);
  EXPECT_EQ(q[1], 64);  // 63.5 -> 64 (even)
  EXPECT_EQ(q[2], 2);
  EXPECT_EQ(q[3], 0);
  std::fill(x.begin(), x.end(), 0.0f);
  quantize_row_q8_K(x.data(), q.data(), &d, 256);
  EXPECT_EQ(d, 0.0f);
}

TEST(IqCodec, UnpackedBlocksEqualTheDequantiser) {
  std::mt19937 rng(7);
  for (DType t : kAll) {
    if (t == DType::MXFP4) continue;
    SCOPED_TRACE(std::string(dtype_name(t)));
    const int nb = 5;
    auto blocks = random_blocks(t, nb, rng);
    std::vector<float> y(size_t(nb) * 256);
    dequantize_row(t, blocks.data(), y.data(), int64_t(y.size()));
    const float mult = unpack_mult(t);
    Unpacked256 u;
    for (int b = 0; b < nb; ++b) {
      unpack_block(t, blocks.data(), b, u);
      for (int i = 0; i < 256; ++i)
        ASSERT_EQ(u.d * (float(u.ls[i / 16]) * mult) * float(u.q[i]), y[size_t(b * 256 + i)])
            << "block " << b << " element " << i;
    }
  }
}

TEST(IqCodec, RejectsPartialBlocksAndOtherTypes) {
  std::vector<uint8_t> b(200);
  std::vector<float> y(512);
  EXPECT_THROW(dequantize_row(DType::IQ2_XXS, b.data(), y.data(), 128), CheckError);
  EXPECT_THROW(dequantize_row(DType::Q4_0, b.data(), y.data(), 32), CheckError);
}

}  // namespace
}  // namespace r1::quant::iq
