// Safetensors reader/writer round trips and Hugging Face model directories: the ../shared
// fixtures (F32/BF16/FP8 with weight_scale_inv), sharded directories, config field errors.
#include "io/safetensors.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/test_util.h"
#include "io/hf_model.h"
#include "io/safetensors_writer.h"

namespace r1::io {
namespace {

namespace fs = std::filesystem;

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * (float(i % 17) - 8.0f) + 0.001f * float(i);
  return v;
}

TEST(Safetensors, RoundTrip) {
  test::TempDir tmp;
  const std::vector<float> x = ramp(6 * 5, 0.25f);
  SafetensorsWriter w;
  w.set_metadata("format", "pt");
  w.set_metadata("note", "r1 test");
  ASSERT_TRUE(w.add_tensor("a.f32", x.data(), {6, 5}).ok());
  ASSERT_TRUE(w.add_tensor("b.bf16", x.data(), {2, 3, 5}, DType::BF16).ok());
  ASSERT_TRUE(w.add_tensor("c.f16", x.data(), {30}, DType::F16).ok());
  ASSERT_TRUE(w.add_tensor("scalar", x.data() + 3, {}).ok());
  ASSERT_TRUE(w.add_tensor("empty", x.data(), {0, 4}).ok());
  EXPECT_FALSE(w.add_tensor("a.f32", x.data(), {1}).ok());           // duplicate
  EXPECT_FALSE(w.add_tensor("__metadata__", x.data(), {1}).ok());    // reserved
  EXPECT_FALSE(w.add_tensor("q", x.data(), {32}, DType::Q8_0).ok()); // no safetensors dtype
  const std::string path = tmp.file("m.safetensors");
  ASSERT_TRUE(w.write(path).ok());
  EXPECT_FALSE(fs::exists(path + ".tmp." + std::to_string(::getpid())));

  auto f = SafetensorsFile::open(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(f->data_offset() % 8, 0u);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  EXPECT_EQ(f->metadata().at("note"), "r1 test");
  EXPECT_EQ(f->names(), (std::vector<std::string>{"a.f32", "b.bf16", "c.f16", "scalar", "empty"}));
  EXPECT_TRUE(f->has("scalar"));
  EXPECT_FALSE(f->has("__metadata__"));

  const Tensor a = f->tensor("a.f32").value();
  EXPECT_EQ(a.dtype(), DType::F32);
  EXPECT_EQ(a.shape_str(), "[6, 5] F32");
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(a.data<float>()[i], x[i]);
  EXPECT_FALSE(a.storage()->owned());  // a view of the mapping

  const Tensor b = f->tensor("b.bf16").value().to_f32();
  const Tensor c = f->tensor("c.f16").value().to_f32();
  EXPECT_EQ(f->tensor("b.bf16").value().shape_str(), "[2, 3, 5] BF16");
  for (size_t i = 0; i < x.size(); ++i) {
    EXPECT_EQ(b.data<float>()[i], bf16_to_f32(f32_to_bf16(x[i])));
    EXPECT_EQ(c.data<float>()[i], f16_to_f32(f32_to_f16(x[i])));
  }
  const Tensor s = f->tensor("scalar").value();
  EXPECT_EQ(s.ndim(), 0);
  EXPECT_EQ(s.data<float>()[0], x[3]);
  EXPECT_EQ(f->tensor("empty").value().numel(), 0);
  EXPECT_NE(f->tensor("zzz").message().find(path + ": tensor zzz not found"), std::string::npos);

  // Re-writing tensors read from a file (views) keeps them bit-exact.
  SafetensorsWriter w2;
  for (const auto& n : f->names()) ASSERT_TRUE(w2.add_tensor(n, f->tensor(n).value()).ok());
  ASSERT_TRUE(w2.add_tensor("a.as_bf16", a, DType::BF16).ok());
  ASSERT_TRUE(w2.write(tmp.file("m2.safetensors")).ok());
  auto f2 = SafetensorsFile::open(tmp.file("m2.safetensors"));
  ASSERT_TRUE(f2.ok()) << f2.message();
  for (const auto& n : f->names()) {
    const Tensor t1 = f->tensor(n).value(), t2 = f2->tensor(n).value();
    ASSERT_EQ(t1.shape_str(), t2.shape_str());
    EXPECT_EQ(std::memcmp(t1.bytes(), t2.bytes(), t1.nbytes()), 0) << n;
  }
  EXPECT_EQ(f2->tensor("a.as_bf16").value().dtype(), DType::BF16);
}

// Every fixture directory loads; every tensor is readable; FP8 weights have well-shaped scales.
TEST(HfModel, SharedFixturesLoad) {
  R1_SKIP_UNLESS_SHARED("");
  const std::string root = test::shared_path("fixtures");
  int n_dirs = 0, n_fp8 = 0;
  for (const auto& e : fs::directory_iterator(root)) {
    if (!e.is_directory()) continue;
    const std::string dir = e.path().string();
    auto m = HfModelDir::open(dir);
    ASSERT_TRUE(m.ok()) << m.message();
    ++n_dirs;
    EXPECT_EQ(m->files().size(), 1u) << dir;  // never train/grads.safetensors
    EXPECT_TRUE(m->config_string("model_type").ok()) << dir;
    EXPECT_GT(m->config_int("hidden_size").value(), 0);
    for (const auto& n : m->names()) {
      auto t = m->tensor(n);
      ASSERT_TRUE(t.ok()) << t.message();
      if (t->dtype() == DType::F8_E4M3) {
        ++n_fp8;
        auto s = m->weight_scale_inv(n);
        ASSERT_TRUE(s.ok()) << s.message();
      }
    }
    if (m->is_fp8()) {
      EXPECT_EQ(m->weight_block_size().value(), (std::array<int64_t, 2>{128, 128}));
    } else {
      EXPECT_EQ(m->weight_block_size().value(), (std::array<int64_t, 2>{128, 128}));  // default
    }
    EXPECT_FALSE(m->has("lm_head.weight_scale_inv"));
  }
  EXPECT_GE(n_dirs, 14);  // 6 DeepSeek-V3, 5 qwen2/llama, 3 qwen3 (held-out folders may add more)
  EXPECT_GT(n_fp8, 100);
}

// The FP8 checkpoint dequantised with its 128x128 block scales is close to the F32 one (same
// random weights): checks the scale layout [ceil(out/128), ceil(in/128)] is applied right.
TEST(HfModel, Fp8BlockScalesMatchF32Fixture) {
  R1_SKIP_UNLESS_SHARED("");
  auto q = HfModelDir::open(test::shared_path("fixtures/ds_qlora_fp8"));
  auto f = HfModelDir::open(test::shared_path("fixtures/ds_qlora_f32"));
  ASSERT_TRUE(q.ok() && f.ok());
  ASSERT_TRUE(q->is_fp8());
  ASSERT_FALSE(f->is_fp8());
  const auto block = q->weight_block_size().value();
  int checked = 0;
  for (const auto& n : q->names()) {
    const Tensor w = q->tensor(n).value();
    if (w.dtype() != DType::F8_E4M3) continue;
    const Tensor s = q->weight_scale_inv(n).value();
    const Tensor ref = f->tensor(n).value().to_f32();
    ASSERT_EQ(ref.numel(), w.numel()) << n;
    const Tensor codes = w.to_f32();
    double err = 0, norm = 0;
    const int64_t rows = w.dim(0), cols = w.dim(1);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const float scale = s.data<float>()[(r / block[0]) * s.dim(1) + c / block[1]];
        const double d = double(codes.data<float>()[r * cols + c]) * scale -
                         ref.data<float>()[r * cols + c];
        err += d * d;
        norm += double(ref.data<float>()[r * cols + c]) * ref.data<float>()[r * cols + c];
      }
    EXPECT_LT(std::sqrt(err / norm), 0.05) << n;  // E4M3 keeps 3 mantissa bits
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

// quantization_config.weight_block_size decides the expected scale grid: a [100, 70] F8_E4M3
// weight with [64, 32] blocks needs F32 weight_scale_inv [2, 3]; the same file under the default
// 128x128 blocks (which would need [1, 1]) is refused naming both tensors.
TEST(HfModel, Fp8BlockSizeFromQuantizationConfig) {
  test::TempDir tmp;
  Tensor w = Tensor::zeros(DType::F8_E4M3, {100, 70});
  for (int64_t i = 0; i < w.numel(); ++i) w.mutable_bytes()[i] = uint8_t(i % 120);
  Tensor s = Tensor::zeros(DType::F32, {2, 3});
  for (int64_t i = 0; i < 6; ++i) s.data<float>()[i] = 0.5f + float(i);
  SafetensorsWriter sw;
  ASSERT_TRUE(sw.add_tensor("model.w.weight", w).ok());
  ASSERT_TRUE(sw.add_tensor("model.w.weight_scale_inv", s).ok());
  const std::string dir = tmp.path();
  ASSERT_TRUE(sw.write(dir + "/model.safetensors").ok());
  write_text(dir + "/config.json", R"({"model_type": "deepseek_v3", "quantization_config":
      {"quant_method": "fp8", "fmt": "e4m3", "weight_block_size": [64, 32]}})");
  auto m = HfModelDir::open(dir);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_TRUE(m->is_fp8());
  EXPECT_EQ(m->weight_block_size().value(), (std::array<int64_t, 2>{64, 32}));
  auto got = m->weight_scale_inv("model.w.weight");
  ASSERT_TRUE(got.ok()) << got.message();
  const Tensor scale = got.value();
  ASSERT_EQ(scale.dim(0), 2);
  ASSERT_EQ(scale.dim(1), 3);
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(scale.data<float>()[i], 0.5f + float(i));
  const Tensor wt = m->tensor("model.w.weight").value();
  EXPECT_EQ(wt.dtype(), DType::F8_E4M3);
  EXPECT_EQ(std::memcmp(wt.bytes(), w.bytes(), w.nbytes()), 0);

  write_text(dir + "/config.json", R"({"model_type": "deepseek_v3", "quantization_config":
      {"quant_method": "fp8", "fmt": "e4m3"}})");
  m = HfModelDir::open(dir);
  ASSERT_TRUE(m.ok()) << m.message();
  auto bad = m->weight_scale_inv("model.w.weight");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("tensor model.w.weight_scale_inv: expected F32 [1, 1]"), std::string::npos)
      << bad.message();
  EXPECT_NE(bad.message().find("model.w.weight"), std::string::npos);
  EXPECT_EQ(bad.message().find('\n'), std::string::npos);
}

TEST(HfModel, ShardedIndexAndGlob) {
  test::TempDir tmp;
  const std::vector<float> x = ramp(64, 1.0f);
  SafetensorsWriter s1, s2, other;
  ASSERT_TRUE(s1.add_tensor("a", x.data(), {4, 4}).ok());
  ASSERT_TRUE(s1.add_tensor("b", x.data(), {8}).ok());
  ASSERT_TRUE(s2.add_tensor("c", x.data(), {2, 32}, DType::BF16).ok());
  ASSERT_TRUE(other.add_tensor("grad", x.data(), {3}).ok());
  const std::string dir = tmp.path();
  ASSERT_TRUE(s1.write(dir + "/model-00001-of-00002.safetensors").ok());
  ASSERT_TRUE(s2.write(dir + "/model-00002-of-00002.safetensors").ok());
  ASSERT_TRUE(other.write(dir + "/grads.safetensors").ok());
  write_text(dir + "/config.json", R"({"model_type": "llama", "hidden_size": 64.0, "rms_norm_eps": 1e-5,
      "tie_word_embeddings": false, "name": "x", "quantization_config": {"weight_block_size": [64, 32]}})");
  write_text(dir + "/generation_config.json", R"({"temperature": 0.6})");

  // No index: the model*.safetensors files, never grads.safetensors.
  auto m = HfModelDir::open(dir);
  ASSERT_TRUE(m.ok()) << m.message();
  EXPECT_EQ(m->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(m->has_generation_config());
  EXPECT_EQ(m->generation_config().at("temperature"), 0.6);
  EXPECT_EQ(m->config_int("hidden_size").value(), 64);
  EXPECT_EQ(m->config_float("rms_norm_eps").value(), 1e-5);
  EXPECT_FALSE(m->config_bool("tie_word_embeddings").value());
  EXPECT_EQ(m->weight_block_size().value(), (std::array<int64_t, 2>{64, 32}));
  EXPECT_NE(m->config_int("num_hidden_layers").message().find("config.json: field num_hidden_layers missing"),
            std::string::npos);
  EXPECT_NE(m->config_int("name").message().find("field name: expected an integer"), std::string::npos);
  EXPECT_NE(m->config_string("hidden_size").message().find("expected a string"), std::string::npos);
  EXPECT_EQ(m->config_int_or("num_hidden_layers", 3), 3);
  EXPECT_TRUE(m->tensor("c", {2, 32}).ok());
  EXPECT_NE(m->tensor("c", {32, 2}).message().find("tensor c: shape [2, 32] but the config implies [32, 2]"),
            std::string::npos);
  EXPECT_NE(m->tensor("grad").message().find("tensor grad not found"), std::string::npos);
  EXPECT_NE(m->weight_scale_inv("a").message().find("expected a 2-D F8_E4M3 weight"), std::string::npos);

  // With an index: exactly the shards it names.
  write_text(dir + "/model.safetensors.index.json",
             R"({"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors",
                 "c": "model-00002-of-00002.safetensors"}})");
  auto mi = HfModelDir::open(dir);
  ASSERT_TRUE(mi.ok()) << mi.message();
  EXPECT_EQ(mi->names(), (std::vector<std::string>{"a", "c"}));
  EXPECT_EQ(mi->files().size(), 2u);
  const Tensor c = mi->tensor("c").value();
  EXPECT_EQ(c.dtype(), DType::BF16);

  write_text(dir + "/model.safetensors.index.json",
             R"({"weight_map": {"a": "model-00002-of-00002.safetensors"}})");
  auto bad = HfModelDir::open(dir);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("tensor a is mapped to model-00002-of-00002.safetensors but that file "
                               "does not contain it"), std::string::npos) << bad.message();
  write_text(dir + "/model.safetensors.index.json", R"({"weight_map": {"a": "missing.safetensors"}})");
  bad = HfModelDir::open(dir);
  EXPECT_NE(bad.message().find("missing.safetensors: cannot open"), std::string::npos) << bad.message();
  write_text(dir + "/model.safetensors.index.json", R"({"weight_map": {"a": "../x.safetensors"}})");
  bad = HfModelDir::open(dir);
  EXPECT_NE(bad.message().find("is not a plain file name"), std::string::npos) << bad.message();
  write_text(dir + "/model.safetensors.index.json", R"({"weights": {}})");
  bad = HfModelDir::open(dir);
  EXPECT_NE(bad.message().find("field weight_map missing"), std::string::npos) << bad.message();
}

}  // namespace
}  // namespace r1::io
