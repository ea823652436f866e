// GGUF reader/writer: round trips of every metadata type and tensor dtype through our writer and
// reader, the stories260K model from ../shared, and an independent writer (gguf_writer.py).
#include "io/gguf.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "core/test_util.h"
#include "io/gguf_writer.h"
#include "quant/quantize.h"

namespace r1::io {
namespace {

std::vector<float> lcg_floats(size_t n, uint32_t seed) {
  std::vector<float> v(n);
  uint32_t s = seed;
  for (auto& x : v) {
    s = s * 1664525u + 1013904223u;
    x = (float((s >> 8) & 0xffff) / 65535.0f - 0.5f) * 4.0f;
  }
  return v;
}

TEST(Gguf, MetadataRoundTripEveryType) {
  test::TempDir tmp;
  GgufWriter w;
  w.set_u8("t.u8", 200);
  w.set_i8("t.i8", -100);
  w.set_u16("t.u16", 60000);
  w.set_i16("t.i16", -30000);
  w.set_u32("t.u32", 4000000000u);
  w.set_i32("t.i32", -2000000000);
  w.set_u64("t.u64", 18000000000000000000ull);
  w.set_i64("t.i64", -9000000000000000000ll);
  w.set_f32("t.f32", 1.5f);
  w.set_f64("t.f64", -2.25e300);
  w.set_bool("t.bool", true);
  w.set_string("t.str", "héllo\nworld");
  w.set_string_array("t.strs", {"a", "", "ccc"});
  w.set_f32_array("t.f32s", {0.5f, -1.0f, 3.0f});
  w.set_i32_array("t.i32s", {-1, 0, 7});
  w.set("t.u8s", GgufValue::array_i64(GgufType::U8, {1, 2, 255}));
  w.set("t.f64s", GgufValue::array_f64(GgufType::F64, {1e-300, 2.0}));
  w.set("t.nested", GgufValue::array_arrays({GgufValue::array_strings({"x", "y"}),
                                             GgufValue::array_i64(GgufType::I16, {-5, 5})}));
  w.set("t.empty", GgufValue::array_strings({}));
  w.set_u32("t.u32", 17);  // replaces, keeps its position
  const std::string path = tmp.file("meta.gguf");
  ASSERT_TRUE(w.write(path).ok());

  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->version(), 3u);
  ASSERT_EQ(f->keys().size(), 19u);
  EXPECT_EQ(f->keys()[4], "t.u32");
  EXPECT_EQ(f->get("t.u8")->as_u64(), 200u);
  EXPECT_EQ(f->get("t.i8")->as_i64(), -100);
  EXPECT_EQ(f->get("t.u16")->as_u64(), 60000u);
  EXPECT_EQ(f->get("t.i16")->as_i64(), -30000);
  EXPECT_EQ(f->get_u32("t.u32").value(), 17u);
  EXPECT_EQ(f->get_i64("t.i32").value(), -2000000000);
  EXPECT_EQ(f->get("t.u64")->as_u64(), 18000000000000000000ull);
  EXPECT_EQ(f->get_i64("t.i64").value(), -9000000000000000000ll);
  EXPECT_EQ(f->get_f32("t.f32").value(), 1.5f);
  EXPECT_EQ(f->get("t.f64")->as_f64(), -2.25e300);
  EXPECT_TRUE(f->get_bool("t.bool").value());
  EXPECT_EQ(f->get_string("t.str").value(), "héllo\nworld");
  EXPECT_EQ(f->get_string_array("t.strs").value(), (std::vector<std::string>{"a", "", "ccc"}));
  EXPECT_EQ(f->get_f32_array("t.f32s").value(), (std::vector<float>{0.5f, -1.0f, 3.0f}));
  EXPECT_EQ(f->get_i32_array("t.i32s").value(), (std::vector<int32_t>{-1, 0, 7}));
  EXPECT_EQ(f->get_i32_array("t.u8s").value(), (std::vector<int32_t>{1, 2, 255}));
  EXPECT_EQ(f->get_f32_array("t.f64s").value()[1], 2.0f);
  const GgufValue* nested = f->get("t.nested");
  ASSERT_TRUE(nested && nested->is_array());
  EXPECT_EQ(nested->elem_type(), GgufType::Array);
  ASSERT_EQ(nested->arrays().size(), 2u);
  EXPECT_EQ(nested->arrays()[0].strings()[1], "y");
  EXPECT_EQ(nested->arrays()[1].int_at(0), -5);
  EXPECT_EQ(nested->summary(), "[array x 2]");
  EXPECT_EQ(f->get("t.empty")->size(), 0u);
  EXPECT_TRUE(f->tensor_infos().empty());

  // Typed getters: clear errors naming the file and key.
  EXPECT_NE(f->get_u32("t.str").message().find("t.str: expected u32, found string"), std::string::npos);
  EXPECT_NE(f->get_u32("t.i8").message().find("does not fit in u32"), std::string::npos);
  EXPECT_NE(f->get_string("nope").message().find(path + ": metadata nope missing"), std::string::npos);
  EXPECT_NE(f->get_string_array("t.f32s").message().find("found array of f32"), std::string::npos);
  EXPECT_NE(f->get_i32_array("t.u32").message().find("expected array of i32"), std::string::npos);
}

TEST(Gguf, TensorRoundTripAllDtypes) {
  test::TempDir tmp;
  const std::vector<float> x = lcg_floats(3 * 64, 1);
  GgufWriter w(64);  // non-default alignment is written and honoured
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0})
    ASSERT_TRUE(w.add_tensor(std::string(dtype_name(t)), x.data(), {3, 64}, t).ok());
  ASSERT_TRUE(w.add_tensor("vec", x.data(), {5}, DType::F32).ok());
  EXPECT_FALSE(w.add_tensor("vec", x.data(), {5}, DType::F32).ok());  // duplicate
  EXPECT_FALSE(w.add_tensor("bad", x.data(), {3, 48}, DType::Q8_0).ok());  // partial block
  EXPECT_FALSE(w.add_tensor("fp8", x.data(), {3, 64}, DType::F8_E4M3).ok());
  const std::string path = tmp.file("t.gguf");
  ASSERT_TRUE(w.write(path).ok());

  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->alignment(), 64u);
  EXPECT_EQ(f->get_u32("general.alignment").value(), 64u);
  EXPECT_EQ(f->data_offset() % 64, 0u);
  ASSERT_EQ(f->tensor_infos().size(), 6u);
  for (DType t : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q4_0}) {
    const std::string name(dtype_name(t));
    const GgufTensorInfo* info = f->tensor_info(name);
    ASSERT_TRUE(info);
    EXPECT_EQ(info->ne, (std::vector<int64_t>{64, 3}));  // GGUF order
    EXPECT_EQ(info->offset % 64, 0u);
    auto tr = f->tensor(name);
    ASSERT_TRUE(tr.ok()) << tr.message();
    EXPECT_EQ(tr->dtype(), t);
    ASSERT_EQ(tr->ndim(), 2);
    EXPECT_EQ(tr->dim(0), 3);
    EXPECT_EQ(tr->dim(1), 64);
    // Expected: our reference codec applied to the same floats, then decoded.
    std::vector<uint8_t> enc(size_t(dtype_bytes(t, 64)));
    std::vector<float> want(64);
    const Tensor got = tr->to_f32();
    for (int r = 0; r < 3; ++r) {
      quant::quantize_row(t, x.data() + r * 64, enc.data(), 64);
      convert_row_to_f32(t, enc.data(), want.data(), 64);
      for (int j = 0; j < 64; ++j) ASSERT_EQ(got.data<float>()[r * 64 + j], want[j]) << name << " " << r << "," << j;
    }
  }
  auto v = f->tensor("vec");
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->ndim(), 1);
  const Tensor vt = v.value();
  for (int j = 0; j < 5; ++j) EXPECT_EQ(vt.data<float>()[j], x[j]);
  EXPECT_NE(f->tensor("nope").message().find("tensor nope not found"), std::string::npos);

  // A Tensor added as-is keeps its bytes (Q8_0 blocks copied, not re-quantised).
  GgufWriter w2;
  ASSERT_TRUE(w2.add_tensor("q", f->tensor("Q8_0").value()).ok());
  ASSERT_TRUE(w2.add_tensor("q_as_f32", f->tensor("Q8_0").value(), DType::F32).ok());
  ASSERT_TRUE(w2.write(tmp.file("t2.gguf")).ok());
  auto f2 = GgufFile::open(tmp.file("t2.gguf"));
  ASSERT_TRUE(f2.ok()) << f2.message();
  const Tensor a = f->tensor("Q8_0").value(), b = f2->tensor("q").value();
  ASSERT_EQ(a.nbytes(), b.nbytes());
  EXPECT_EQ(std::memcmp(a.bytes(), b.bytes(), a.nbytes()), 0);
  const Tensor c = f2->tensor("q_as_f32").value(), a32 = a.to_f32();
  EXPECT_EQ(std::memcmp(c.bytes(), a32.bytes(), c.nbytes()), 0);
}

TEST(Gguf, Stories260KLoadsEveryTensorAndKey) {
  R1_SKIP_UNLESS_SHARED("");
  const std::string path = test::shared_path("models/stories260K/stories260K.gguf");
  auto f = GgufFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->version(), 3u);
  EXPECT_EQ(f->keys().size(), 19u);
  EXPECT_EQ(f->tensor_infos().size(), 48u);
  EXPECT_EQ(f->get_string("general.architecture").value(), "llama");
  EXPECT_EQ(f->get_u32("llama.context_length").value(), 2048u);
  EXPECT_EQ(f->get_u32("llama.embedding_length").value(), 64u);
  EXPECT_EQ(f->get_u32("llama.block_count").value(), 5u);
  EXPECT_EQ(f->get_u32("llama.feed_forward_length").value(), 172u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count").value(), 8u);
  EXPECT_EQ(f->get_u32("llama.attention.head_count_kv").value(), 4u);
  EXPECT_NEAR(f->get_f32("llama.attention.layer_norm_rms_epsilon").value(), 1e-5f, 1e-9f);
  EXPECT_EQ(f->get_string("tokenizer.ggml.model").value(), "llama");
  auto tokens = f->get_string_array("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.message();
  EXPECT_EQ(tokens->size(), 512u);
  EXPECT_EQ(f->get_f32_array("tokenizer.ggml.scores").value().size(), 512u);
  EXPECT_EQ(f->get_i32_array("tokenizer.ggml.token_type").value().size(), 512u);
  for (const std::string& k : f->keys()) EXPECT_TRUE(f->has(k)) << k;

  size_t n_params = 0;
  for (const auto& info : f->tensor_infos()) {
    auto t = f->tensor(info.name);
    ASSERT_TRUE(t.ok()) << t.message();
    EXPECT_EQ(t->dtype(), DType::F32) << info.name;
    n_params += size_t(t->numel());
    const Tensor x = t->to_f32();
    for (int64_t i = 0; i < x.numel(); ++i) ASSERT_TRUE(std::isfinite(x.data<float>()[i])) << info.name;
  }
  EXPECT_GT(n_params, 250000u);
  EXPECT_LT(n_params, 300000u);
  // GGUF ne = [in, out] becomes PyTorch [out, in].
  const Tensor emb = f->tensor("token_embd.weight").value();
  EXPECT_EQ(emb.dim(0), 512);
  EXPECT_EQ(emb.dim(1), 64);
  const Tensor wk = f->tensor("blk.0.attn_k.weight").value();
  EXPECT_EQ(wk.dim(0), 32);  // 4 kv heads x head_dim 8
  EXPECT_EQ(wk.dim(1), 64);
  const Tensor up = f->tensor("blk.4.ffn_up.weight").value();
  EXPECT_EQ(up.dim(0), 172);
  EXPECT_EQ(up.dim(1), 64);
}

// Runs ../shared/bench/gguf/gguf_writer.py (numpy) to write Q8_0/Q4_0/F16 tensors of the same
// floats our writer gets; both files must decode to identical values.
TEST(Gguf, IndependentWriterDecodesLikeOurs) {
  R1_SKIP_UNLESS_SHARED("bench/gguf/gguf_writer.py");
  R1_SKIP_UNLESS_NUMPY();
  const std::string script_dir = test::shared_path("bench/gguf");
  test::TempDir tmp;
  const int rows = 7, cols = 96;
  std::vector<float> x = lcg_floats(size_t(rows * cols), 42);
  x[5] = 0;  // a block with a zero, and an all-zero block
  for (int j = 32; j < 64; ++j) x[size_t(2 * cols + j)] = 0;
  {
    std::ofstream out(tmp.file("x.f32"), std::ios::binary);
    out.write(reinterpret_cast<const char*>(x.data()), std::streamsize(x.size() * 4));
  }
  const std::string cmd = fmt::format(
      "/usr/bin/python3 -c \"import sys; sys.path.insert(0, '{}'); import numpy as np, gguf_writer as g; "
      "x = np.fromfile('{}', dtype='<f4').reshape({}, {}); w = g.GGUFWriter('{}'); "
      "[w.add_tensor(n, x.shape, t, lambda: x) for n, t in (('q8', g.GGML_Q8_0), ('q4', g.GGML_Q4_0), "
      "('f16', g.GGML_F16))]; w.add_u32('test.rows', {}); w.write()\"",
      script_dir, tmp.file("x.f32"), rows, cols, tmp.file("py.gguf"), rows);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;

  GgufWriter w;
  ASSERT_TRUE(w.add_tensor("q8", x.data(), {rows, cols}, DType::Q8_0).ok());
  ASSERT_TRUE(w.add_tensor("q4", x.data(), {rows, cols}, DType::Q4_0).ok());
  ASSERT_TRUE(w.add_tensor("f16", x.data(), {rows, cols}, DType::F16).ok());
  ASSERT_TRUE(w.write(tmp.file("ours.gguf")).ok());

  auto py = GgufFile::open(tmp.file("py.gguf"));
  ASSERT_TRUE(py.ok()) << py.message();
  auto ours = GgufFile::open(tmp.file("ours.gguf"));
  ASSERT_TRUE(ours.ok()) << ours.message();
  EXPECT_EQ(py->get_u32("test.rows").value(), uint32_t(rows));
  for (const char* name : {"q8", "q4", "f16"}) {
    const Tensor a = py->tensor(name).value(), b = ours->tensor(name).value();
    ASSERT_EQ(a.dtype(), b.dtype());
    ASSERT_EQ(a.dim(0), rows);
    ASSERT_EQ(a.dim(1), cols);
    const Tensor af = a.to_f32(), bf = b.to_f32();
    int diffs = 0;
    float max_err = 0;
    for (int64_t i = 0; i < af.numel(); ++i) {
      diffs += af.data<float>()[i] != bf.data<float>()[i];
      max_err = std::fmax(max_err, std::fabs(af.data<float>()[i] - x[size_t(i)]));
    }
    EXPECT_EQ(diffs, 0) << name << ": decoded values differ between the two writers";
    EXPECT_LT(max_err, std::string(name) == "q4" ? 0.3f : 0.02f) << name;  // |x| <= 2
  }
}

}  // namespace
}  // namespace r1::io
