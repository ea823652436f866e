#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <random>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/result.h"
#include "core/tensor.h"
#include "core/thread_pool.h"

namespace r1 {
namespace {

TEST(DType, F16RoundTripAllCodes) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = f16_to_f32(uint16_t(h));
    if (std::isnan(f)) continue;
    EXPECT_EQ(f32_to_f16(f), h) << std::hex << h;
  }
}

TEST(DType, F16RoundsToNearestEven) {
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 1.0f / 2048)), 1.0f);  // tie -> even
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.0f + 3.0f / 2048)), 1.0f + 2.0f / 1024);
  EXPECT_TRUE(std::isinf(f16_to_f32(f32_to_f16(70000.0f))));
  EXPECT_EQ(f16_to_f32(f32_to_f16(65504.0f)), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
}

TEST(DType, BF16AndFP8) {
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.5f)), 1.5f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0x7f)));
  for (int c = 0; c < 256; ++c) {
    if ((c & 0x7f) == 0x7f) continue;
    const float f = fp8_e4m3_to_f32(uint8_t(c));
    if (f == 0.0f) continue;
    EXPECT_EQ(f32_to_fp8_e4m3(f), c);
  }
  EXPECT_EQ(f32_to_fp8_e4m3(1000.0f), 0x7e);
}

// Every FP8 E4M3 code against the OCP 8-bit floating point spec (E4M3FN, as torch.float8_e4m3fn
// and DeepSeek-V3 use): bias 7, subnormals m/8 * 2^-6, S.1111.111 is NaN, no infinities.
TEST(DType, FP8E4M3AllCodesMatchOcpFormula) {
  for (int c = 0; c < 256; ++c) {
    const int sign = c >> 7, e = (c >> 3) & 15, m = c & 7;
    const float got = fp8_e4m3_to_f32(uint8_t(c));
    if (e == 15 && m == 7) {
      EXPECT_TRUE(std::isnan(got)) << c;
      continue;
    }
    const double mag = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1 + m / 8.0, e - 7);
    EXPECT_EQ(double(got), sign ? -mag : mag) << c;
    EXPECT_EQ(std::signbit(got), sign == 1) << c;
  }
}

// Every BF16 code is the top half of an f32; f32 -> bf16 rounds to nearest even.
TEST(DType, BF16AllCodesAndRounding) {
  for (uint32_t c = 0; c < 65536; ++c) {
    const uint32_t bits = c << 16;
    float want;
    std::memcpy(&want, &bits, 4);
    const float got = bf16_to_f32(uint16_t(c));
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << c;
      continue;
    }
    ASSERT_EQ(std::memcmp(&got, &want, 4), 0) << c;
    ASSERT_EQ(f32_to_bf16(want), c) << c;
  }
  auto from_bits = [](uint32_t b) {
    float f;
    std::memcpy(&f, &b, 4);
    return f;
  };
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808000u)), 0x3f80);  // tie, even below: down
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f818000u)), 0x3f82);  // tie, odd below: up
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f808001u)), 0x3f81);  // above the tie: up
  EXPECT_EQ(f32_to_bf16(from_bits(0x3f807fffu)), 0x3f80);  // below the tie: down
}

TEST(DType, Names) {
  EXPECT_EQ(dtype_from_name("BF16"), DType::BF16);
  EXPECT_EQ(dtype_from_name("F8_E4M3"), DType::F8_E4M3);
  EXPECT_FALSE(dtype_from_name("F7"));
  EXPECT_EQ(dtype_bytes(DType::Q4_0, 64), 36);
  EXPECT_EQ(dtype_bytes(DType::Q8_0, 32), 34);
}

TEST(Tensor, ViewsAndRows) {
  Tensor t = Tensor::zeros(DType::F32, {3, 4});
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = float(i);
  Tensor s = t.slice_rows(1, 3);
  EXPECT_EQ(s.dim(0), 2);
  EXPECT_EQ(reinterpret_cast<const float*>(s.row(0))[0], 4.0f);
  Tensor r = t.reshape({12});
  EXPECT_EQ(r.numel(), 12);
  EXPECT_THROW(t.reshape({5}), CheckError);
  Tensor q = Tensor::zeros(DType::Q8_0, {2, 64});
  EXPECT_EQ(q.row_bytes(), 68u);
  EXPECT_THROW(Tensor::zeros(DType::Q4_0, {2, 33}), CheckError);
}

TEST(Result, CarriesErrors) {
  auto f = [](int x) -> Result<int> {
    if (x < 0) return make_error("x: negative ({})", x);
    return x * 2;
  };
  EXPECT_TRUE(f(2).ok());
  EXPECT_EQ(f(2).value(), 4);
  EXPECT_EQ(f(-1).message(), "x: negative (-1)");
}

TEST(ThreadPool, CoversRangeOnceAndRethrows) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 200; ++rep) {
    std::vector<std::atomic<int>> hits(1000);
    pool.parallel_for(1000, 7, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
    for (auto& h : hits) ASSERT_EQ(h.load(), 1);
  }
  EXPECT_THROW(pool.parallel_for(100, 1, [](int64_t b, int64_t e, int) {
    if (b <= 50 && 50 < e) throw std::runtime_error("boom");
  }), std::runtime_error);
  EXPECT_GE(physical_cores(), 1);
}

TEST(Storage, AtomicWriteAndMap) {
  const std::string path = ::testing::TempDir() + "/r1_storage_test.bin";
  const char msg[] = "hello";
  ASSERT_TRUE(write_file_atomic(path, msg, 5).ok());
  auto mf = MappedFile::open(path);
  ASSERT_TRUE(mf.ok());
  EXPECT_EQ(std::memcmp(mf.value()->data(), "hello", 5), 0);
  auto missing = MappedFile::open(path + ".nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.message().find("cannot open"), std::string::npos);
}

}  // namespace
}  // namespace r1

namespace r1 {
namespace {

TEST(ThreadPool, ManyTinyLoopsOversubscribed) {
  // More threads than cores and loops smaller than a time slice: the loop must finish correctly
  // even when workers are descheduled or arrive after the caller finished all chunks.
  ThreadPool pool(6);
  std::vector<int> hits(64);
  for (int rep = 0; rep < 300; ++rep) {
    pool.parallel_for(64, 1, [&](int64_t b, int64_t e, int) {
      for (int64_t i = b; i < e; ++i) hits[size_t(i)]++;
    });
  }
  for (int h : hits) ASSERT_EQ(h, 300);
}

}  // namespace
}  // namespace r1

namespace r1 {
namespace {

TEST(ThreadPool, GuidedChunksRespectGrainAndShrink) {
  // Guided scheduling: every chunk but the one ending at n holds at least `grain` items, chunks
  // never grow as the loop drains past the first claims, and together they tile [0, n) once.
  ThreadPool pool(2);
  for (int64_t grain : {1, 5, 64}) {
    std::mutex mu;
    std::vector<std::pair<int64_t, int64_t>> chunks;
    pool.parallel_for(1000, grain, [&](int64_t b, int64_t e, int) {
      std::lock_guard<std::mutex> lk(mu);
      chunks.emplace_back(b, e);
    });
    std::sort(chunks.begin(), chunks.end());
    int64_t next = 0;
    for (size_t i = 0; i < chunks.size(); ++i) {
      ASSERT_EQ(chunks[i].first, next);
      const int64_t size = chunks[i].second - chunks[i].first;
      if (chunks[i].second != 1000) {
        EXPECT_GE(size, grain);
        if (i > 0) {
          EXPECT_LE(size, chunks[i - 1].second - chunks[i - 1].first);
        }
      }
      next = chunks[i].second;
    }
    EXPECT_EQ(next, 1000);
    // A first claim takes a quarter of the loop (two threads), so there are several chunks.
    EXPECT_GE(chunks.size(), grain == 64 ? 4u : 8u);
  }
}

}  // namespace
}  // namespace r1

namespace r1 {
namespace {

TEST(Storage, CopyAndMmapModesGiveTheSameBytes) {
  const std::string path = ::testing::TempDir() + "/r1_storage_modes.bin";
  std::vector<uint8_t> bytes(3 << 20);  // over one 2 MiB huge page: the copy rounds its length
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = uint8_t(i * 2654435761u >> 13);
  ASSERT_TRUE(write_file_atomic(path, bytes.data(), bytes.size()).ok());
  for (LoadMode mode : {LoadMode::Copy, LoadMode::Mmap, LoadMode::Auto}) {
    set_load_mode(mode);
    auto mf = MappedFile::open(path);
    ASSERT_TRUE(mf.ok()) << mf.message();
    EXPECT_EQ(mf.value()->copied(), mode == LoadMode::Copy);  // Auto maps files under 64 MiB
    ASSERT_EQ(mf.value()->size(), bytes.size());
    EXPECT_EQ(std::memcmp(mf.value()->data(), bytes.data(), bytes.size()), 0);
  }
  set_load_mode(LoadMode::Copy);
  EXPECT_FALSE(MappedFile::open(path + ".nope").ok());
  set_load_mode(LoadMode::Mmap);  // the process default
}

}  // namespace
}  // namespace r1
