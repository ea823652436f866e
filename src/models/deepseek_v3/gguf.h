// DeepSeek-V2/V3 from llama.cpp GGUF files (general.architecture "deepseek2"): the config from
// `deepseek2.*` metadata and the tensors presented under their Hugging Face names, so one loader
// (DeepseekV3::load) serves both formats.
#pragma once
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "io/gguf.h"
#include "models/deepseek_v3/config.h"
#include "models/deepseek_v3/model.h"
#include "models/tensor_source.h"

namespace r1::models::deepseek_v3 {

/// llama.cpp's `deepseek2` name (after "blk.N.") of a per-layer HF tensor (after
/// "model.layers.N."): norms, MLA projections, dense and shared-expert MLPs, router and
/// e_score_correction_bias (exp_probs_b), MTP tensors; nullptr for the rest (kv_b_proj and the
/// routed experts, which are split or stacked). The one table for reading and writing GGUF.
const char* deepseek2_layer_tensor_name(const std::string& rest);

/// Reads the HF-equivalent config from `deepseek2.*` keys (llama.cpp convention: MLA stored as one
/// KV head, key_length_mla/value_length_mla the per-head dims, expert_gating_func 1 softmax /
/// 2 sigmoid, rope.scaling.yarn_log_multiplier = 0.1 * mscale_all_dim).
/// Errors: missing required keys (one line naming the key).
Result<Config> config_from_gguf(const io::GgufFile& f);

/// A llama.cpp deepseek2 GGUF file seen through HF tensor names:
///  - blk.N.attn_k_b [H, L, nope] + attn_v_b [H, v, L] become an f32 kv_b_proj [H*(nope+v), L]
///    (k part transposed back per head), built once on first use; they are also offered as
///    they are under self_attn.k_b_proj.weight / v_b_proj.weight (the loader takes these:
///    nn::MlaWeights::w_uk / w_uv, read directly by decode);
///  - ffn_{gate,up,down}_exps [E, F, D] / [E, D, F] become per-expert 2-d views (no copy);
///  - exp_probs_b.bias is mlp.gate.e_score_correction_bias; other names map one to one.
class Deepseek2GgufSource : public TensorSource {
 public:
  Deepseek2GgufSource(const io::GgufFile* file, const Config& cfg);
  const std::string& label() const override { return label_; }
  NameStyle style() const override { return NameStyle::HF; }
  bool has(const std::string& name) const override;
  Result<Tensor> get(const std::string& name) const override;
  using TensorSource::get;

 private:
  // GGUF name for an HF name, or "" when there is none; expert >= 0 for a slice of a 3-d tensor.
  std::string map_name(const std::string& hf, int64_t& expert, bool& is_kv_b) const;
  const io::GgufFile* file_;
  Config cfg_;
  std::string label_;
  mutable std::mutex mu_;
  mutable std::map<std::string, Tensor> built_;  // synthesised kv_b_proj tensors
};

/// Loads a deepseek2 GGUF file (config, ModelInfo from gguf_model_info, weights).
Result<std::unique_ptr<DeepseekV3>> load_gguf(const io::GgufFile& f, const LoadOptions& opts,
                                              ThreadPool& pool);

}  // namespace r1::models::deepseek_v3
