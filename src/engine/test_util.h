// Test scaffolding shared by the engine, train and server tests (and the server's FakeBackend): a
// byte-level tokenizer with ids 0..255 = bytes, so tiny random models and fakes get a real text
// side without files from ../shared, and a toy DeepSeek-V3 config for tiny random models.
#pragma once
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"

namespace r1::test {

/// A byte-level BPE with no merges and no special tokens: id b is byte b, vocab_size 256.
/// Built by tok::train_bpe through a temporary tokenizer.json (removed before returning).
/// Aborts (R1_CHECK) when the temporary directory cannot be made.
inline std::unique_ptr<tok::Tokenizer> byte_tokenizer() {
  tok::BpeTrainerOptions bo;
  bo.vocab_size = 256;
  auto trained = tok::train_bpe({}, bo);
  R1_CHECK(trained.ok(), "{}", trained.message());
  std::string dir = (std::filesystem::temp_directory_path() / "r1bytetok-XXXXXX").string();
  R1_CHECK(::mkdtemp(dir.data()) != nullptr, "cannot create a temporary directory");
  const std::string path = dir + "/tokenizer.json";
  std::ofstream(path) << trained->tokenizer_json;
  auto t = tok::Tokenizer::from_path(path);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  R1_CHECK(t.ok(), "{}", t.message());
  return std::move(t.value());
}

/// DeepSeek-V3 shapes at toy scale (for models::write_random_deepseek_v3): q-LoRA, one dense
/// layer then MoE layers (sigmoid router, noaux_tc with 2 groups, shared expert), an MTP module
/// (unused by decoding); BOS 0, EOS 1.
inline nlohmann::json tiny_deepseek_v3_config(int64_t vocab_size) {
  return {{"model_type", "deepseek_v3"},   {"vocab_size", vocab_size},
          {"hidden_size", 32},             {"intermediate_size", 48},
          {"moe_intermediate_size", 16},   {"num_hidden_layers", 3},
          {"first_k_dense_replace", 1},    {"moe_layer_freq", 1},
          {"num_attention_heads", 4},      {"num_key_value_heads", 4},
          {"n_routed_experts", 4},         {"n_shared_experts", 1},
          {"num_experts_per_tok", 2},      {"n_group", 2},
          {"topk_group", 1},               {"routed_scaling_factor", 2.5},
          {"norm_topk_prob", true},        {"scoring_func", "sigmoid"},
          {"topk_method", "noaux_tc"},     {"q_lora_rank", 24},
          {"kv_lora_rank", 16},            {"qk_nope_head_dim", 8},
          {"qk_rope_head_dim", 4},         {"v_head_dim", 8},
          {"rope_theta", 10000.0},         {"rms_norm_eps", 1e-6},
          {"max_position_embeddings", 128}, {"tie_word_embeddings", false},
          {"num_nextn_predict_layers", 1}, {"bos_token_id", 0},
          {"eos_token_id", 1}};
}

}  // namespace r1::test
