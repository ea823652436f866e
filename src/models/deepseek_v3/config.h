// DeepSeek-V3/R1 (and V2) hyper-parameters, named as in Hugging Face config.json
// (DeepseekV3Config), and the checkpoint's tensor plan: every tensor name with its shape, built
// from the config alone so the 671B layout can be checked without allocating anything.
#pragma once
#include <algorithm>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "kernels/rope.h"
#include "nn/mla.h"
#include "nn/moe.h"

namespace r1::models::deepseek_v3 {

struct Config {
  std::string model_type = "deepseek_v3";
  int64_t vocab_size = 0;                // V
  int64_t hidden_size = 0;               // D
  int64_t intermediate_size = 0;         // F of dense layers
  int64_t moe_intermediate_size = 0;     // F of one expert
  int64_t num_hidden_layers = 0;
  int64_t num_nextn_predict_layers = 0;  // MTP depth (stored as layers N .. N+depth-1)
  int64_t num_attention_heads = 0;       // H
  int64_t n_shared_experts = 0;
  int64_t n_routed_experts = 0;          // 0 (config null): a dense model
  double routed_scaling_factor = 1.0;
  int64_t kv_lora_rank = 0;              // L
  int64_t q_lora_rank = 0;               // 0 (config null): q_proj
  int64_t qk_rope_head_dim = 0;          // R
  int64_t v_head_dim = 0;
  int64_t qk_nope_head_dim = 0;
  std::string topk_method = "noaux_tc";  // noaux_tc | greedy | group_limited_greedy
  int64_t n_group = 1;
  int64_t topk_group = 1;
  int64_t num_experts_per_tok = 0;       // K
  int64_t moe_layer_freq = 1;
  int64_t first_k_dense_replace = 0;
  bool norm_topk_prob = false;
  std::string scoring_func = "sigmoid";  // sigmoid | softmax
  int64_t max_position_embeddings = 0;
  double rope_theta = 10000.0;
  kernels::RopeScaling rope_scaling;     // None or Yarn
  double rms_norm_eps = 1e-6;
  bool tie_word_embeddings = false;
  int32_t bos_token_id = -1;
  std::vector<int32_t> eos_token_ids;
  int64_t fp8_block_n = 128, fp8_block_k = 128;  // quantization_config.weight_block_size

  /// HF rule: routed experts, layer_idx >= first_k_dense_replace, layer_idx % moe_layer_freq == 0.
  /// Applies to MTP layers too (index num_hidden_layers + k).
  bool is_moe_layer(int64_t layer) const {
    return n_routed_experts > 0 && layer >= first_k_dense_replace &&
           layer % std::max<int64_t>(moe_layer_freq, 1) == 0;
  }
  nn::MlaConfig mla() const;
  nn::MoeConfig moe() const;
  /// Softmax scale of MLA: 1/sqrt(nope + rope) * yarn_get_mscale(factor, mscale_all_dim)^2 when
  /// rope_scaling is yarn with mscale_all_dim set (HF DeepseekV3Attention.__init__).
  double softmax_scale() const;

  /// Checks consistency: positive sizes, even rope dim, E % n_group == 0, K fits in the kept
  /// groups, known scoring/topk method. Errors name `label`.
  Result<void> validate(const std::string& label) const;
};

/// Parses config.json. Errors: "LABEL: field F missing" / "LABEL: field F: expected ...".
Result<Config> parse_config(const nlohmann::json& j, const std::string& label);

/// One tensor of the checkpoint: HF name and shape (file order, [out, in] for linears).
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool linear = false;    // a projection weight (may be FP8 with a weight_scale_inv companion)
  bool optional = false;  // may be absent (MTP embed_tokens / shared_head.head: shared with main)
};

/// The full tensor list of a checkpoint with this config, MTP layers included, in layer order.
std::vector<TensorSpec> tensor_plan(const Config& c);

/// Parameter counts of a plan: total, and the part in MTP layers (index >= num_hidden_layers),
/// counting optional tensors too (as the R1 release stores them).
struct ParamCount {
  int64_t total = 0;
  int64_t mtp = 0;
  int64_t active_per_token = 0;  // main model only: dense parts + K routed + shared experts
};
ParamCount count_params(const Config& c, const std::vector<TensorSpec>& plan);

/// The shape checker the loader runs before any compute: every required tensor of `plan` must be
/// found by `shape_of` (returns false when absent) with exactly the planned shape.
/// Errors: "LABEL: tensor NAME missing" / "LABEL: tensor NAME has shape [..], expected [..]".
Result<void> check_shapes(const std::vector<TensorSpec>& plan,
                          const std::function<bool(const std::string&, std::vector<int64_t>&)>& shape_of,
                          const std::string& label);

}  // namespace r1::models::deepseek_v3
