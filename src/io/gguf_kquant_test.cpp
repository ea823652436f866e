// GGUF tensors in the K-quant, Q4_1/Q5_x and IQ4 types: they load as their DType, and bad input
// in them (a row that is not whole blocks, an unknown type id, a truncated block) gives one
// clear line naming the file, the tensor and the problem. Files are written by our writer as
// F32, then the type id in the tensor info is patched (the same bytes reinterpreted).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "core/test_util.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "quant/dequantize.h"

namespace r1::io {
namespace {

using test::read_bytes;
using test::write_bytes;
// Byte position of the type id of tensor `name` (its info: name, n_dims, 2 x ne, type, offset).
size_t type_pos(const std::string& b, const std::string& name) {
  return b.find(name) + name.size() + 4 + 2 * 8;
}

class GgufKQuant : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<float> x(2 * 256, 0.0f);
    GgufWriter w;
    w.set_string("general.architecture", "llama");
    ASSERT_TRUE(w.add_tensor("blk.0.ffn_up.weight", x.data(), {2, 64}, DType::F32).ok());
    ASSERT_TRUE(w.add_tensor("blk.0.ffn_down.weight", x.data(), {2, 256}, DType::F32).ok());
    path_ = tmp_.file("good.gguf");
    ASSERT_TRUE(w.write(path_).ok());
    good_ = read_bytes(path_);
  }
  // Opens `bytes` (with the tensor read too) and returns the error line ("" if it loaded).
  std::string error_of(const std::string& bytes, const std::string& tensor) {
    const std::string p = tmp_.file("t.gguf");
    write_bytes(p, bytes);
    auto f = GgufFile::open(p);
    if (!f.ok()) return f.message();
    auto t = f->tensor(tensor);
    return t.ok() ? "" : t.message();
  }
  void patch_type(std::string& b, const std::string& name, uint32_t type) {
    std::memcpy(b.data() + type_pos(b, name), &type, 4);
  }
  test::TempDir tmp_;
  std::string path_, good_;
};

TEST_F(GgufKQuant, EachTypeLoadsAsItsDType) {
  const std::pair<uint32_t, DType> types[] = {
      {3, DType::Q4_1}, {6, DType::Q5_0}, {7, DType::Q5_1}, {10, DType::Q2_K},
      {11, DType::Q3_K}, {12, DType::Q4_K}, {13, DType::Q5_K}, {14, DType::Q6_K},
      {20, DType::IQ4_NL}, {23, DType::IQ4_XS}};
  for (const auto& [id, dt] : types) {
    std::string b = good_;
    patch_type(b, "blk.0.ffn_down.weight", id);
    const std::string p = tmp_.file("ok.gguf");
    write_bytes(p, b);
    auto f = GgufFile::open(p);
    ASSERT_TRUE(f.ok()) << f.message();
    auto t = f->tensor("blk.0.ffn_down.weight");
    ASSERT_TRUE(t.ok()) << t.message();
    EXPECT_EQ(t->dtype(), dt);
    EXPECT_EQ(t->dim(0), 2);
    EXPECT_EQ(t->dim(1), 256);
    // All-zero bytes decode to zeros in every one of these formats (f16 scales of 0).
    const Tensor f32 = quant::to_f32(*t);
    for (int64_t i = 0; i < 512; ++i) ASSERT_EQ(f32.data<float>()[i], 0.0f) << dtype_name(dt);
  }
}

TEST_F(GgufKQuant, RowNotWholeBlocks) {
  std::string b = good_;
  patch_type(b, "blk.0.ffn_up.weight", 12);  // Q4_K rows of 64 elements
  const std::string e = error_of(b, "blk.0.ffn_up.weight");
  EXPECT_NE(e.find("tensor blk.0.ffn_up.weight: row of 64 elements is not a whole number of Q4_K "
                   "blocks of 256"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
}

TEST_F(GgufKQuant, UnknownTypeId) {
  for (uint32_t id : {4u, 77u}) {
    std::string b = good_;
    patch_type(b, "blk.0.ffn_down.weight", id);
    const std::string e = error_of(b, "blk.0.ffn_down.weight");
    EXPECT_NE(e.find("tensor blk.0.ffn_down.weight: unknown ggml type " + std::to_string(id)),
              std::string::npos) << e;
  }
  // A known id r1 cannot compute with (Q8_K, an activation type) names the tensor and the type.
  std::string b = good_;
  patch_type(b, "blk.0.ffn_down.weight", 15);
  const std::string e = error_of(b, "blk.0.ffn_down.weight");
  EXPECT_NE(e.find("tensor blk.0.ffn_down.weight: unsupported tensor type Q8_K"), std::string::npos) << e;
  EXPECT_NE(e.find("Q4_K"), std::string::npos) << e;  // the list of supported types
}

TEST_F(GgufKQuant, TruncatedBlock) {
  // ffn_down as Q6_K takes 2 x 210 bytes from its offset; cut the file inside the second block.
  std::string b = good_;
  patch_type(b, "blk.0.ffn_down.weight", 14);
  const std::string p = tmp_.file("full.gguf");
  write_bytes(p, b);
  auto f = GgufFile::open(p);
  ASSERT_TRUE(f.ok()) << f.message();
  const GgufTensorInfo* ti = f->tensor_info("blk.0.ffn_down.weight");
  ASSERT_NE(ti, nullptr);
  const size_t end = size_t(f->data_offset() + ti->offset) + 210 + 100;
  ASSERT_LT(end, b.size());
  const std::string e = error_of(b.substr(0, end), "blk.0.ffn_down.weight");
  EXPECT_NE(e.find("tensor blk.0.ffn_down.weight"), std::string::npos) << e;
  EXPECT_NE(e.find("runs past the end of the file"), std::string::npos) << e;
  EXPECT_EQ(e.find('\n'), std::string::npos);
}

}  // namespace
}  // namespace r1::io
