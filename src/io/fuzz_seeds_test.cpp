// The fuzz seed corpora (fuzz/seeds/<harness>/) stay valid: every seed parses and every tensor
// in it loads, so the fuzzer starts from files that reach deep into the parsers.
#include <gtest/gtest.h>

#include <filesystem>

#include "io/gguf.h"
#include "io/safetensors.h"

namespace r1::io {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> seeds(const std::string& harness) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(R1_SOURCE_DIR) / "fuzz" / "seeds" / harness;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().string());
  return out;
}

TEST(FuzzSeeds, SafetensorsSeedsParse) {
  const auto files = seeds("safetensors_fuzz");
  ASSERT_FALSE(files.empty());
  for (const auto& p : files) {
    EXPECT_LT(fs::file_size(p), 10000u) << p;
    auto f = SafetensorsFile::open(p);
    ASSERT_TRUE(f.ok()) << f.message();
    for (const auto& n : f->names()) EXPECT_TRUE(f->tensor(n).ok()) << p << " " << n;
  }
}

TEST(FuzzSeeds, GgufSeedsParse) {
  const auto files = seeds("gguf_fuzz");
  ASSERT_FALSE(files.empty());
  for (const auto& p : files) {
    EXPECT_LT(fs::file_size(p), 10000u) << p;
    auto f = GgufFile::open(p);
    ASSERT_TRUE(f.ok()) << f.message();
    for (const auto& n : f->names()) EXPECT_TRUE(f->tensor(n).ok()) << p << " " << n;
  }
}

}  // namespace
}  // namespace r1::io
