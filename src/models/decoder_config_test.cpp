// Config parsing (HF field names, one-line errors naming the field), .npy read/write, and the
// R1 detection rule of ModelInfo.
#include <cmath>
#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "models/decoder_config.h"
#include "models/model_info.h"
#include "models/npy.h"

namespace r1::models {
namespace {

using nlohmann::json;

json base_config() {
  return json::parse(R"({"model_type": "qwen2", "vocab_size": 256, "hidden_size": 64,
    "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
    "max_position_embeddings": 256, "tie_word_embeddings": false, "eos_token_id": [1, 7],
    "bos_token_id": 0})");
}

const DecoderVariant& variant_of(const char* arch) {
  const DecoderArch* a = find_decoder_arch(arch);
  EXPECT_NE(a, nullptr) << arch;
  return a->variant;
}

TEST(DecoderConfig, ParsesHfFields) {
  auto c = parse_decoder_config(base_config(), "cfg", variant_of("qwen2"));
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_EQ(c->num_key_value_heads, 2);
  EXPECT_TRUE(c->qkv_bias);
  EXPECT_FALSE(c->o_bias);
  EXPECT_EQ(c->eos_token_ids, (std::vector<int32_t>{1, 7}));
  EXPECT_EQ(c->bos_token_id, 0);
  // Round trip through decoder_config_to_json.
  auto c2 = parse_decoder_config(decoder_config_to_json(*c), "cfg2", variant_of("qwen2"));
  ASSERT_TRUE(c2.ok()) << c2.message();
  EXPECT_EQ(c2->hidden_size, c->hidden_size);
  EXPECT_EQ(c2->eos_token_ids, c->eos_token_ids);
}

TEST(DecoderConfig, Llama3RopeScalingAndAttentionBias) {
  json j = base_config();
  j["model_type"] = "llama";
  j["attention_bias"] = true;
  j["head_dim"] = 32;
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  j["mlp_bias"] = true;
  auto c = parse_decoder_config(j, "cfg", variant_of("llama"));
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_TRUE(c->qkv_bias && c->o_bias && c->mlp_bias);
  EXPECT_FALSE(c->qk_norm);
  EXPECT_EQ(c->rope_scaling.type, kernels::RopeScalingType::Llama3);
  EXPECT_EQ(c->rope_scaling.original_max_position_embeddings, 64);
}

// Qwen3 (HF Qwen3Config): no biases unless attention_bias (then q/k/v AND o, never the MLP),
// q/k norm always, head_dim explicit and independent of D / H (128 when absent, Qwen3Config's
// default); config.json round trip names Qwen3ForCausalLM.
TEST(DecoderConfig, Qwen3Fields) {
  json j = base_config();
  j["model_type"] = "qwen3";
  j["head_dim"] = 32;  // D / H = 16
  j["mlp_bias"] = true;  // not a Qwen3 field: ignored as HF ignores it
  auto c = parse_decoder_config(j, "cfg", variant_of("qwen3"));
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->head_dim, 32);
  EXPECT_EQ(c->rope_dim, 32);
  EXPECT_TRUE(c->qk_norm);
  EXPECT_FALSE(c->qkv_bias || c->o_bias || c->mlp_bias);
  const json back = decoder_config_to_json(*c);
  EXPECT_EQ(back["architectures"][0], "Qwen3ForCausalLM");
  EXPECT_EQ(back["attention_bias"], false);
  EXPECT_FALSE(back.contains("mlp_bias"));
  auto c2 = parse_decoder_config(back, "cfg2", variant_of("qwen3"));
  ASSERT_TRUE(c2.ok()) << c2.message();
  EXPECT_EQ(c2->head_dim, 32);
  EXPECT_TRUE(c2->qk_norm);

  j["attention_bias"] = true;
  j.erase("head_dim");
  c = parse_decoder_config(j, "cfg", variant_of("qwen3"));
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_TRUE(c->qkv_bias && c->o_bias);
  EXPECT_FALSE(c->mlp_bias);
  EXPECT_EQ(c->head_dim, 128);
  // qwen2 keeps D / H and its always-on q/k/v biases, no q/k norm.
  j["model_type"] = "qwen2";
  c = parse_decoder_config(j, "cfg", variant_of("qwen2"));
  ASSERT_TRUE(c.ok()) << c.message();
  EXPECT_EQ(c->head_dim, 16);
  EXPECT_FALSE(c->qk_norm || c->o_bias);
  EXPECT_EQ(find_decoder_arch("deepseek_v3"), nullptr);
}

TEST(DecoderConfig, ErrorsNameTheField) {
  struct Case {
    const char* field;
    json value;  // null: remove the field
    const char* expect;
  };
  const Case cases[] = {
      {"hidden_size", nullptr, "field hidden_size missing"},
      {"vocab_size", "big", "field vocab_size: expected an integer"},
      {"num_key_value_heads", 3, "not a multiple of num_key_value_heads"},
      {"rope_theta", "x", "field rope_theta: expected a number"},
      {"tie_word_embeddings", 1, "field tie_word_embeddings: expected true/false"},
      {"eos_token_id", -4, "field eos_token_id: expected a token id"},
      {"hidden_act", "gelu", "hidden_act: 'gelu' is not supported"},
      {"rope_scaling", json{{"rope_type", "dynamic"}, {"factor", 2.0}}, "unsupported rope type"},
      {"intermediate_size", 0, "intermediate_size must be > 0"},
      {"use_sliding_window", true, "sliding-window attention is not supported"},
  };
  for (const auto& c : cases) {
    json j = base_config();
    if (c.value.is_null()) j.erase(c.field);
    else j[c.field] = c.value;
    auto r = parse_decoder_config(j, "DIR/config.json", {});
    ASSERT_FALSE(r.ok()) << c.field;
    EXPECT_NE(r.message().find("DIR/config.json"), std::string::npos) << r.message();
    EXPECT_NE(r.message().find(c.expect), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find('\n'), std::string::npos);
  }
}

// A GGUF file's bad hyperparameters are named by their GGUF keys (not the HF field names the
// checks share), with the file, in one line.
TEST(DecoderConfig, GgufErrorsNameTheMetadataKey) {
  test::TempDir tmp;
  struct Case {
    const char* key;
    double value;
    bool is_f32;
    const char* expect;
  };
  const Case cases[] = {
      {"llama.attention.head_count_kv", 0, false, "metadata llama.attention.head_count_kv must be > 0 (got 0)"},
      {"llama.attention.head_count", 0, false, "metadata llama.attention.head_count must be > 0 (got 0)"},
      {"llama.embedding_length", 0, false, "metadata llama.embedding_length must be > 0"},
      {"llama.context_length", 0, false, "metadata llama.context_length must be > 0"},
      {"llama.block_count", 0, false, "metadata llama.block_count must be > 0"},
      {"llama.feed_forward_length", 0, false, "metadata llama.feed_forward_length must be > 0"},
      {"llama.attention.layer_norm_rms_epsilon", -1, true,
       "metadata llama.attention.layer_norm_rms_epsilon must be > 0"},
      {"llama.attention.layer_norm_rms_epsilon", NAN, true,
       "metadata llama.attention.layer_norm_rms_epsilon must be > 0"},
      {"llama.rope.freq_base", 0, true, "metadata llama.rope.freq_base must be > 0"},
      {"llama.attention.head_count_kv", 3, false, "not a multiple of num_key_value_heads 3"},
  };
  const std::vector<float> emb(32 * 8, 0.5f);
  for (const auto& c : cases) {
    io::GgufWriter w;
    w.set_string("general.architecture", "llama");
    w.set_u32("llama.context_length", 64);
    w.set_u32("llama.embedding_length", 8);
    w.set_u32("llama.block_count", 1);
    w.set_u32("llama.feed_forward_length", 16);
    w.set_u32("llama.attention.head_count", 2);
    w.set_u32("llama.attention.head_count_kv", 2);
    w.set_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
    w.set_f32("llama.rope.freq_base", 10000.0f);
    if (c.is_f32) w.set_f32(c.key, float(c.value));
    else w.set_u32(c.key, uint32_t(c.value));
    ASSERT_TRUE(w.add_tensor("token_embd.weight", emb.data(), {32, 8}, DType::F32).ok());
    const std::string path = tmp.file("m.gguf");
    ASSERT_TRUE(w.write(path).ok());
    auto f = io::GgufFile::open(path);
    ASSERT_TRUE(f.ok()) << f.message();
    auto r = decoder_config_from_gguf(*f, "llama", variant_of("llama"));
    ASSERT_FALSE(r.ok()) << c.key;
    EXPECT_NE(r.message().find(path + ": "), std::string::npos) << r.message();
    EXPECT_NE(r.message().find(c.expect), std::string::npos) << r.message();
    EXPECT_EQ(r.message().find('\n'), std::string::npos);
  }
}

TEST(Npy, RoundTripAndErrors) {
  test::TempDir tmp;
  const std::vector<float> v = {1.5f, -2.0f, 3.25f, 0.0f, 7.0f, -1e-3f};
  ASSERT_TRUE(write_npy_f32(tmp.file("a.npy"), v.data(), {2, 3}).ok());
  auto a = read_npy_f32(tmp.file("a.npy"));
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(a->data, v);
  // The header is padded so the data starts at a multiple of 64 (NumPy's v1.0 layout).
  EXPECT_EQ(npy_f32_bytes(v.data(), {2, 3}).size() % 64, v.size() * 4 % 64);
  ASSERT_TRUE(write_npy_f32(tmp.file("b.npy"), v.data(), {6}).ok());
  EXPECT_EQ(read_npy_f32(tmp.file("b.npy"))->shape, (std::vector<int64_t>{6}));

  std::ofstream(tmp.file("bad.npy")) << "not numpy";
  EXPECT_NE(read_npy_f32(tmp.file("bad.npy")).message().find("bad magic"), std::string::npos);
  std::string f8 = npy_f32_bytes(v.data(), {2, 3});
  f8.replace(f8.find("<f4"), 3, "<f8");
  std::ofstream(tmp.file("f8.npy"), std::ios::binary) << f8;
  EXPECT_NE(read_npy_f32(tmp.file("f8.npy")).message().find("not float32"), std::string::npos);
  std::string trunc = npy_f32_bytes(v.data(), {2, 3});
  trunc.resize(trunc.size() - 4);
  std::ofstream(tmp.file("t.npy"), std::ios::binary) << trunc;
  EXPECT_FALSE(read_npy_f32(tmp.file("t.npy")).ok());
  EXPECT_FALSE(read_npy_f32(tmp.file("missing.npy")).ok());
  if (test::has_shared()) {
    auto ref = read_npy_f32(test::shared_path("fixtures/qwen2_f32/logits.npy"));
    ASSERT_TRUE(ref.ok()) << ref.message();
    EXPECT_EQ(ref->shape, (std::vector<int64_t>{20, 256}));
  }
}

TEST(ModelInfo, R1Detection) {
  EXPECT_TRUE(looks_like_r1("DeepSeek-R1-Distill-Qwen-1.5B", ""));
  EXPECT_TRUE(looks_like_r1("r1-distill-qwen-1.5b", ""));
  EXPECT_TRUE(looks_like_r1("my_R1", ""));
  EXPECT_FALSE(looks_like_r1("stories260K", ""));
  EXPECT_FALSE(looks_like_r1("qwen2-tiny", ""));
  EXPECT_FALSE(looks_like_r1("gr1d", ""));
  EXPECT_TRUE(looks_like_r1("model", "{{'<｜Assistant｜>'}}<think>\\n"));
  EXPECT_FALSE(looks_like_r1("model", "<|im_start|>assistant"));
}

}  // namespace
}  // namespace r1::models
