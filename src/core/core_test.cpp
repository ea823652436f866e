#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

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
