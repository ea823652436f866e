// Random-weight checkpoints at real shapes (`r1 init-model`): presets of the R1-Distill family and
// tiny test models, written as an HF directory (config.json, generation_config.json,
// model.safetensors) so benchmarks and tests run real sizes without downloads.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/result.h"
#include "core/thread_pool.h"
#include <nlohmann/json.hpp>
#include "models/decoder_config.h"

namespace r1::models {

/// A named architecture preset. `name_or_path` goes to config.json `_name_or_path` (R1 presets
/// name the DeepSeek-R1 checkpoint, so ModelInfo.is_r1 is set for them).
struct ModelPreset {
  std::string name;
  std::string name_or_path;
  DecoderConfig config;
};

/// The presets: r1-distill-qwen-1.5b, r1-distill-qwen-7b, r1-distill-llama-8b, r1-0528-qwen3-8b
/// (shapes of the published configs), qwen2-tiny, qwen2-tiny-tied, qwen3-tiny, qwen3-tiny-tied,
/// llama-tiny (for tests).
const std::vector<ModelPreset>& model_presets();
/// Preset `name` or nullopt.
std::optional<ModelPreset> find_preset(const std::string& name);

/// Writes OUT_DIR/{config.json, generation_config.json, model.safetensors} for `preset`:
/// matrices and biases N(0, 0.02), RMSNorm weights 1, stored as `dtype` (F32 or BF16).
/// Values are a pure function of (seed, tensor index, element index) -> identical for any thread
/// count. Streams tensors to disk in chunks (memory O(chunk), not O(model)); the safetensors file
/// is written through a temporary and renamed. Errors: bad dtype, I/O failures naming the path.
Result<void> write_random_model(const ModelPreset& preset, const std::string& out_dir,
                                uint64_t seed, DType dtype, ThreadPool& pool);

/// Fills out[0..n) with N(0, std) values of stream (seed, key) starting at element `first`
/// (Box-Muller over a counter-based splitmix64 hash; element i's value depends only on
/// seed, key, i).
void fill_normal(uint64_t seed, uint64_t key, int64_t first, int64_t n, float std, float* out);

/// Writes DIR/{config.json, generation_config.json, model.safetensors} for a DeepSeek-V3/V2 HF
/// `config` (validated by deepseek_v3::parse_config): linears and embeddings N(0, 0.02), RMSNorm
/// weights 1, e_score_correction_bias 0; the MTP module's optional tensors shared with the main
/// model (embed_tokens, shared_head.head) are left out. F32, written atomically. Errors: invalid
/// config fields (named), I/O failures naming the path.
Result<void> write_random_deepseek_v3(const nlohmann::json& config, const std::string& dir,
                                      uint64_t seed);

}  // namespace r1::models
