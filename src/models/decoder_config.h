// Hyper-parameters of the Llama/Qwen2/Qwen3 decoder family, named as in Hugging Face config.json,
// parsed from config.json or from GGUF metadata (`llama.*` / `qwen2.*` / `qwen3.*` keys).
// Architecture variants come only from explicit fields here (biases, q/k norm, tied head, rope
// scaling), never from sizes.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "io/gguf.h"
#include "kernels/rope.h"

namespace r1::models {

struct DecoderConfig {
  std::string model_type;               // "llama" | "qwen2" | "qwen3"
  int64_t vocab_size = 0;               // V
  int64_t hidden_size = 0;              // D
  int64_t intermediate_size = 0;        // F
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;      // H
  int64_t num_key_value_heads = 0;      // Hkv (defaults to H)
  int64_t head_dim = 0;                 // Hd (`head_dim`; default DecoderVariant::default_head_dim)
  int64_t rope_dim = 0;                 // R rotated dims per head (= Hd for these models)
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  kernels::RopeScaling rope_scaling;    // `rope_scaling` (none, linear, llama3, yarn)
  int64_t max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool qkv_bias = false;                // q/k/v projections have biases (qwen2; attention_bias)
  bool o_bias = false;                  // o_proj bias (llama/qwen3 attention_bias)
  bool mlp_bias = false;                // gate/up/down biases (llama mlp_bias)
  bool qk_norm = false;                 // RMSNorm over each q and k head before RoPE (qwen3)
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;   // int or list in config.json
  std::string torch_dtype;              // informational ("float32", "bfloat16", ...)

  /// Checks consistency (positive sizes, H % Hkv == 0, even rope dim). Errors name `label`.
  Result<void> validate(const std::string& label) const;
};

/// Which explicit HF fields turn on the architecture's variants; one row per architecture in the
/// registry (find_decoder_arch).
struct DecoderVariant {
  bool qkv_bias_always = false;     // Qwen2: q/k/v always carry biases
  bool read_attention_bias = false; // Llama, Qwen3: `attention_bias` (q/k/v/o biases)
  bool read_mlp_bias = false;       // Llama: `mlp_bias` (gate/up/down biases)
  bool qk_norm = false;             // Qwen3: q_norm/k_norm [Hd] on every head before RoPE
  int64_t default_head_dim = 0;     // head_dim when config.json has none (0: D / H)
};

/// One decoder-family architecture: the HF fields that turn its variants on, and how llama.cpp
/// stores it in GGUF (general.architecture = model_type). Rows live in models/registry.cpp.
struct DecoderArch {
  std::string_view model_type;         // config.json model_type and GGUF general.architecture
  std::string_view hf_class;           // config.json architectures[0]
  DecoderVariant variant;
  kernels::RopeLayout gguf_rope;       // q/k pairing in llama.cpp's files of this arch
  bool gguf_permute_qk = false;        // llama.cpp's converter permutes q/k rows (NORM rope)
  std::string_view gguf_tokenizer_pre; // tokenizer.ggml.pre `r1 convert` writes
  bool gguf_add_bos = false;           // tokenizer.ggml.add_bos_token without tokenizer_config
};

/// The row of `model_type` (llama, qwen2, qwen3), or null for any other architecture (e.g.
/// deepseek_v3, which is not a DecoderLM). Defined in registry.cpp.
const DecoderArch* find_decoder_arch(std::string_view model_type);
/// The decoder-family model_types, comma separated (for error messages).
std::string decoder_arch_names();

/// Parses an HF config.json object. `label` (e.g. "DIR/config.json") prefixes errors:
/// "LABEL: field hidden_size missing", "LABEL: field rope_theta: expected a number, got string".
Result<DecoderConfig> parse_decoder_config(const nlohmann::json& j, const std::string& label,
                                           const DecoderVariant& variant);

/// Reads the `ARCH.*` metadata of a llama.cpp GGUF file (ARCH = general.architecture).
/// vocab_size comes from ARCH.vocab_size, else the rows of token_embd.weight; head_dim from
/// ARCH.attention.key_length, else D / H; biases and the tied head from the presence of
/// blk.0.attn_q.bias / output.weight; the q/k norm from `variant` (then the loader requires
/// blk.N.attn_q_norm / attn_k_norm). rope_freqs.weight (llama3 scaling baked as per-frequency
/// divisors) is applied by the loader, not here.
Result<DecoderConfig> decoder_config_from_gguf(const io::GgufFile& f, const std::string& arch,
                                               const DecoderVariant& variant);

/// Writes an HF config.json object for `c` (inverse of parse_decoder_config; used by init-model
/// and training checkpoints). `architectures` comes from the registry row of c.model_type.
nlohmann::json decoder_config_to_json(const DecoderConfig& c);

/// Reads token ids given as an int or a list of ints (HF eos_token_id). Null/absent: empty.
Result<std::vector<int32_t>> parse_token_id_list(const nlohmann::json& j, const std::string& label,
                                                 const std::string& field);

}  // namespace r1::models
