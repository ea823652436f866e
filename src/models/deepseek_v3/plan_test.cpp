// The tensor plan of the real DeepSeek-R1 (671B) config: built without allocating, checked for
// its parameter count and accepted by the loader's shape checker.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <unordered_map>

#include "models/deepseek_v3/config.h"

namespace r1::models::deepseek_v3 {
namespace {

// config.json of deepseek-ai/DeepSeek-R1 (the fields the architecture reads).
const char* kR1Config = R"({
  "architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3",
  "vocab_size": 129280, "hidden_size": 7168, "intermediate_size": 18432,
  "moe_intermediate_size": 2048, "num_hidden_layers": 61, "num_nextn_predict_layers": 1,
  "num_attention_heads": 128, "num_key_value_heads": 128, "n_shared_experts": 1,
  "n_routed_experts": 256, "ep_size": 1, "routed_scaling_factor": 2.5, "kv_lora_rank": 512,
  "q_lora_rank": 1536, "qk_rope_head_dim": 64, "v_head_dim": 128, "qk_nope_head_dim": 128,
  "topk_method": "noaux_tc", "n_group": 8, "topk_group": 4, "num_experts_per_tok": 8,
  "moe_layer_freq": 1, "first_k_dense_replace": 3, "norm_topk_prob": true,
  "scoring_func": "sigmoid", "hidden_act": "silu", "max_position_embeddings": 163840,
  "rms_norm_eps": 1e-06, "rope_theta": 10000, "tie_word_embeddings": false,
  "attention_bias": false, "bos_token_id": 0, "eos_token_id": 1,
  "rope_scaling": {"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0,
                   "mscale_all_dim": 1.0, "original_max_position_embeddings": 4096,
                   "type": "yarn"},
  "quantization_config": {"activation_scheme": "dynamic", "fmt": "e4m3",
                          "quant_method": "fp8", "weight_block_size": [128, 128]}
})";

TEST(DsPlan, DeepSeekR1FullConfig) {
  auto c = parse_config(nlohmann::json::parse(kR1Config), "R1/config.json");
  ASSERT_TRUE(c.ok()) << c.message();
  const auto plan = tensor_plan(*c);
  // Embedding, 61 blocks + 1 MTP block, norm, head. Per MoE block: 3 * 257 expert matrices.
  size_t n_expert_mats = 0;
  for (const auto& t : plan) n_expert_mats += t.name.find(".mlp.experts.") != std::string::npos;
  EXPECT_EQ(n_expert_mats, size_t((61 - 3 + 1) * 256 * 3));

  const ParamCount pc = count_params(*c, plan);
  // DeepSeek-V3 report: 671B total, 37B activated; HF card: 685B with the 14B MTP module.
  EXPECT_NEAR(double(pc.total - pc.mtp) / 1e9, 671.0, 1.0);
  EXPECT_NEAR(double(pc.mtp) / 1e9, 14.0, 1.0);  // incl. its own embed_tokens and head
  EXPECT_NEAR(double(pc.active_per_token) / 1e9, 37.5, 1.0);
  std::printf("R1 plan: %zu tensors, %.3fB params (%.3fB main + %.3fB MTP), %.3fB active\n",
              plan.size(), pc.total / 1e9, (pc.total - pc.mtp) / 1e9, pc.mtp / 1e9,
              pc.active_per_token / 1e9);

  // MLA shapes and the YaRN softmax scale (mscale = 0.1 ln 40 + 1).
  std::unordered_map<std::string, std::vector<int64_t>> shapes;
  for (const auto& t : plan) shapes[t.name] = t.shape;
  EXPECT_EQ(shapes["model.layers.0.self_attn.kv_a_proj_with_mqa.weight"],
            (std::vector<int64_t>{576, 7168}));
  EXPECT_EQ(shapes["model.layers.0.self_attn.kv_b_proj.weight"],
            (std::vector<int64_t>{128 * 256, 512}));
  EXPECT_EQ(shapes["model.layers.0.self_attn.q_b_proj.weight"],
            (std::vector<int64_t>{128 * 192, 1536}));
  EXPECT_EQ(shapes["model.layers.61.eh_proj.weight"], (std::vector<int64_t>{7168, 14336}));
  EXPECT_EQ(shapes["model.layers.2.mlp.down_proj.weight"], (std::vector<int64_t>{7168, 18432}));
  EXPECT_EQ(shapes["model.layers.3.mlp.shared_experts.down_proj.weight"],
            (std::vector<int64_t>{7168, 2048}));
  const double m = 0.1 * std::log(40.0) + 1.0;
  EXPECT_NEAR(c->softmax_scale(), m * m / std::sqrt(192.0), 1e-9);
  // Latent cache vs MHA cache per token (f32): 61 * 576 vs 61 * 128 * (192 + 128) floats.
  EXPECT_EQ(c->mla().cache_row(), 576);

  // The shape checker accepts a checkpoint laid out as planned...
  auto lookup = [&](const std::string& name, std::vector<int64_t>& s) {
    auto it = shapes.find(name);
    if (it == shapes.end()) return false;
    s = it->second;
    return true;
  };
  EXPECT_TRUE(check_shapes(plan, lookup, "R1").ok());
  // ...and rejects a wrong shape or a missing required tensor, naming it.
  shapes["model.layers.60.mlp.experts.255.up_proj.weight"] = {2048, 7167};
  auto bad = check_shapes(plan, lookup, "R1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("experts.255.up_proj"), std::string::npos) << bad.message();
  shapes["model.layers.60.mlp.experts.255.up_proj.weight"] = {2048, 7168};
  shapes.erase("model.layers.61.enorm.weight");
  EXPECT_FALSE(check_shapes(plan, lookup, "R1").ok());
  // Optional MTP copies of embed/head may be absent (shared with the main model).
  shapes["model.layers.61.enorm.weight"] = {7168};
  shapes.erase("model.layers.61.shared_head.head.weight");
  EXPECT_TRUE(check_shapes(plan, lookup, "R1").ok());
}

TEST(DsPlan, ConfigErrors) {
  auto j = nlohmann::json::parse(kR1Config);
  j["n_group"] = 7;  // 256 experts do not split into 7 groups
  auto r = parse_config(j, "cfg");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("n_group"), std::string::npos) << r.message();
  j = nlohmann::json::parse(kR1Config);
  j.erase("kv_lora_rank");
  r = parse_config(j, "cfg");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.message(), "cfg: field kv_lora_rank missing");
  // A whole-valued float past int64 (found by config_fuzz: converting it was undefined behaviour).
  j = nlohmann::json::parse(kR1Config);
  j["hidden_size"] = 1.27778e+78;
  r = parse_config(j, "cfg");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("hidden_size"), std::string::npos) << r.message();
  j = nlohmann::json::parse(kR1Config);
  j["scoring_func"] = "relu";
  EXPECT_FALSE(parse_config(j, "cfg").ok());
  j = nlohmann::json::parse(kR1Config);
  j["q_lora_rank"] = nullptr;  // V2-Lite style: direct q_proj
  r = parse_config(j, "cfg");
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->q_lora_rank, 0);
  bool has_q_proj = false;
  for (const auto& t : tensor_plan(*r)) has_q_proj |= t.name == "model.layers.0.self_attn.q_proj.weight";
  EXPECT_TRUE(has_q_proj);
}

}  // namespace
}  // namespace r1::models::deepseek_v3
