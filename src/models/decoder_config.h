// Hyper-parameters of the Llama/Qwen2 decoder family, named as in Hugging Face config.json, parsed
// from config.json or from GGUF metadata (`llama.*` / `qwen2.*` keys). Architecture variants come
// only from explicit fields here (biases, tied head, rope scaling), never from sizes.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "io/gguf.h"
#include "kernels/rope.h"

namespace r1::models {

struct DecoderConfig {
  std::string model_type;               // "llama" | "qwen2"
  int64_t vocab_size = 0;               // V
  int64_t hidden_size = 0;              // D
  int64_t intermediate_size = 0;        // F
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;      // H
  int64_t num_key_value_heads = 0;      // Hkv (defaults to H)
  int64_t head_dim = 0;                 // Hd (defaults to D / H)
  int64_t rope_dim = 0;                 // R rotated dims per head (= Hd for these models)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  kernels::RopeScaling rope_scaling;    // `rope_scaling` (none, linear, llama3, yarn)
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;                // q/k/v projections have biases (qwen2; llama attention_bias)
  bool o_bias = false;                  // o_proj bias (llama attention_bias)
  bool mlp_bias = false;                // gate/up/down biases (llama mlp_bias)
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;   // int or list in config.json
  std::string torch_dtype;              // informational ("float32", "bfloat16", ...)

  /// Checks consistency (positive sizes, H % Hkv == 0, even rope dim). Errors name `label`.
  Result<void> validate(const std::string& label) const;
};

/// Which explicit HF fields turn on the architecture's variants; chosen by the registry.
struct DecoderVariant {
  bool qkv_bias_always = false;     // Qwen2: q/k/v always carry biases
  bool read_attention_bias = false; // Llama: `attention_bias` (q/k/v/o) and `mlp_bias`
};

/// Parses an HF config.json object. `label` (e.g. "DIR/config.json") prefixes errors:
/// "LABEL: field hidden_size missing", "LABEL: field rope_theta: expected a number, got string".
Result<DecoderConfig> parse_decoder_config(const nlohmann::json& j, const std::string& label,
                                           const DecoderVariant& variant);

/// Reads the `ARCH.*` metadata of a llama.cpp GGUF file (ARCH = general.architecture).
/// vocab_size comes from ARCH.vocab_size, else the rows of token_embd.weight; biases and the tied
/// head from the presence of blk.0.attn_q.bias / output.weight. rope_freqs.weight (llama3 scaling
/// baked as per-frequency divisors) is applied by the loader, not here.
Result<DecoderConfig> decoder_config_from_gguf(const io::GgufFile& f, const std::string& arch);

/// Writes an HF config.json object for `c` (inverse of parse_decoder_config; used by init-model
/// and training checkpoints).
nlohmann::json decoder_config_to_json(const DecoderConfig& c);

/// Reads token ids given as an int or a list of ints (HF eos_token_id). Null/absent: empty.
Result<std::vector<int32_t>> parse_token_id_list(const nlohmann::json& j, const std::string& label,
                                                 const std::string& field);

}  // namespace r1::models
