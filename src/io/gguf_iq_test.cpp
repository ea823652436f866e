// GGUF tensors in the IQ / TQ / MXFP4 formats: blocks written by our writer come back byte for
// byte as tensors of that dtype, and bad files (data cut inside a block, a row that is not whole
// super-blocks) give one line naming the tensor instead of a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <sstream>

#include "core/test_util.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "quant/iq_codec.h"

namespace r1::io {
namespace {

using test::read_bytes;
using test::write_bytes;

// One [2, 512] tensor of random blocks of `t` (the f16 scale of each block left random: the loader
// never looks inside blocks).
void write_model(DType t, const std::string& path, std::string* raw) {
  Tensor w = Tensor::zeros(t, {2, 512});
  std::mt19937 rng(5);
  uint8_t* p = w.mutable_bytes();
  for (int64_t i = 0; i < dtype_bytes(t, w.numel()); ++i) p[i] = uint8_t(rng());
  raw->assign(reinterpret_cast<const char*>(p), size_t(dtype_bytes(t, w.numel())));
  GgufWriter g;
  g.set_string("general.architecture", "llama");
  ASSERT_TRUE(g.add_tensor("blk.0.ffn_down.weight", w).ok());
  auto r = g.write(path);
  ASSERT_TRUE(r.ok()) << r.error().message;
}

TEST(GgufIq, BlocksRoundTripForEveryType) {
  test::TempDir tmp;
  for (DType t : {DType::IQ2_XXS, DType::IQ2_XS, DType::IQ2_S, DType::IQ3_XXS, DType::IQ3_S,
                  DType::IQ1_S, DType::IQ1_M, DType::TQ1_0, DType::TQ2_0, DType::MXFP4}) {
    SCOPED_TRACE(std::string(dtype_name(t)));
    std::string raw;
    write_model(t, tmp.file("m.gguf"), &raw);
    auto f = GgufFile::open(tmp.file("m.gguf"));
    ASSERT_TRUE(f.ok()) << f.error().message;
    EXPECT_STREQ(f->tensor_info("blk.0.ffn_down.weight")->type_name(), dtype_name(t).data());
    auto w = f->tensor("blk.0.ffn_down.weight");
    ASSERT_TRUE(w.ok()) << w.error().message;
    EXPECT_EQ(w->dtype(), t);
    EXPECT_EQ(w->dim(0), 2);
    EXPECT_EQ(w->dim(1), 512);
    EXPECT_EQ(std::memcmp(w->bytes(), raw.data(), raw.size()), 0);
  }
}

TEST(GgufIq, TruncatedBlockNamesTheTensor) {
  test::TempDir tmp;
  std::string raw;
  write_model(DType::IQ1_S, tmp.file("m.gguf"), &raw);
  std::string bytes = read_bytes(tmp.file("m.gguf"));
  // The file may end in up to 31 bytes of alignment padding: cutting 40 takes 9+ bytes of the last
  // 50-byte block.
  bytes.resize(bytes.size() - 40);
  write_bytes(tmp.file("cut.gguf"), bytes);
  auto f = GgufFile::open(tmp.file("cut.gguf"));
  ASSERT_FALSE(f.ok());
  const std::string& m = f.error().message;
  EXPECT_NE(m.find("blk.0.ffn_down.weight"), std::string::npos) << m;
  EXPECT_NE(m.find("past the end"), std::string::npos) << m;
  EXPECT_EQ(m.find('\n'), std::string::npos) << m;
}

TEST(GgufIq, RowOfPartialSuperBlocksNamesTheTensor) {
  test::TempDir tmp;
  std::string raw;
  write_model(DType::IQ2_XXS, tmp.file("m.gguf"), &raw);
  std::string bytes = read_bytes(tmp.file("m.gguf"));
  // ne[0] (512) follows the tensor name and n_dims; make it 384: 1.5 super-blocks per row.
  const std::string name = "blk.0.ffn_down.weight";
  const size_t at = bytes.find(name) + name.size() + 4;
  uint64_t ne0 = 0;
  std::memcpy(&ne0, bytes.data() + at, 8);
  ASSERT_EQ(ne0, 512u);
  ne0 = 384;
  std::memcpy(bytes.data() + at, &ne0, 8);
  write_bytes(tmp.file("bad.gguf"), bytes);
  auto f = GgufFile::open(tmp.file("bad.gguf"));
  ASSERT_FALSE(f.ok());
  const std::string& m = f.error().message;
  EXPECT_NE(m.find(name), std::string::npos) << m;
  EXPECT_NE(m.find("not a whole number of IQ2_XXS blocks of 256"), std::string::npos) << m;
}

}  // namespace
}  // namespace r1::io
