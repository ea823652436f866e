// config.json parsing, validation and the tensor plan of DeepSeek-V3/R1.
#include "models/deepseek_v3/config.h"

#include <cmath>

#include <fmt/format.h>

namespace r1::models::deepseek_v3 {
namespace {

using nlohmann::json;

// Reads an optional integer field; null counts as absent (q_lora_rank: null, n_routed_experts: null).
Result<void> get_int(const json& j, const std::string& label, const char* key, int64_t& out,
                     bool required) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return make_error("{}: field {} missing", label, key);
    return {};
  }
  if (!it->is_number_integer() && !(it->is_number_float() && std::floor(it->get<double>()) ==
                                                               it->get<double>()))
    return make_error("{}: field {}: expected an integer, got {}", label, key, it->type_name());
  if (it->is_number_float() && !(std::fabs(it->get<double>()) < 9.2e18))  // int64 range; UB past it
    return make_error("{}: field {}: {} is out of range", label, key, it->get<double>());
  out = it->is_number_integer() ? it->get<int64_t>() : int64_t(it->get<double>());
  return {};
}

Result<void> get_float(const json& j, const std::string& label, const char* key, double& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_number()) return make_error("{}: field {}: expected a number, got {}", label, key,
                                          it->type_name());
  out = it->get<double>();
  return {};
}

Result<void> get_bool(const json& j, const std::string& label, const char* key, bool& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_boolean()) return make_error("{}: field {}: expected true/false, got {}", label,
                                           key, it->type_name());
  out = it->get<bool>();
  return {};
}

Result<void> get_string(const json& j, const std::string& label, const char* key,
                        std::string& out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return {};
  if (!it->is_string()) return make_error("{}: field {}: expected a string, got {}", label, key,
                                          it->type_name());
  out = it->get<std::string>();
  return {};
}

}  // namespace

nn::MlaConfig Config::mla() const {
  nn::MlaConfig m;
  m.dim = hidden_size;
  m.n_head = num_attention_heads;
  m.q_lora_rank = q_lora_rank;
  m.kv_lora_rank = kv_lora_rank;
  m.qk_nope_head_dim = qk_nope_head_dim;
  m.qk_rope_head_dim = qk_rope_head_dim;
  m.v_head_dim = v_head_dim;
  m.rms_norm_eps = float(rms_norm_eps);
  m.softmax_scale = float(softmax_scale());
  return m;
}

nn::MoeConfig Config::moe() const {
  nn::MoeConfig m;
  m.n_routed_experts = n_routed_experts;
  m.num_experts_per_tok = num_experts_per_tok;
  m.n_group = n_group;
  m.topk_group = topk_group;
  m.norm_topk_prob = norm_topk_prob;
  m.routed_scaling_factor = float(routed_scaling_factor);
  m.scoring = scoring_func == "softmax" ? nn::MoeScoring::Softmax : nn::MoeScoring::Sigmoid;
  m.topk_method = topk_method == "greedy"                 ? nn::MoeTopkMethod::Greedy
                  : topk_method == "group_limited_greedy" ? nn::MoeTopkMethod::GroupLimitedGreedy
                                                          : nn::MoeTopkMethod::NoauxTc;
  return m;
}

double Config::softmax_scale() const {
  double s = 1.0 / std::sqrt(double(qk_nope_head_dim + qk_rope_head_dim));
  if (rope_scaling.type == kernels::RopeScalingType::Yarn && rope_scaling.mscale_all_dim != 0.0) {
    const double m = kernels::yarn_get_mscale(rope_scaling.factor, rope_scaling.mscale_all_dim);
    s *= m * m;
  }
  return s;
}

Result<void> Config::validate(const std::string& label) const {
  auto pos = [&](const char* name, int64_t v) -> Result<void> {
    if (v <= 0) return make_error("{}: field {} must be positive, got {}", label, name, v);
    return {};
  };
  R1_TRY(pos("vocab_size", vocab_size));
  R1_TRY(pos("hidden_size", hidden_size));
  R1_TRY(pos("num_hidden_layers", num_hidden_layers));
  R1_TRY(pos("num_attention_heads", num_attention_heads));
  R1_TRY(pos("kv_lora_rank", kv_lora_rank));
  R1_TRY(pos("qk_rope_head_dim", qk_rope_head_dim));
  R1_TRY(pos("qk_nope_head_dim", qk_nope_head_dim));
  R1_TRY(pos("v_head_dim", v_head_dim));
  if (qk_rope_head_dim % 2)
    return make_error("{}: field qk_rope_head_dim must be even, got {}", label, qk_rope_head_dim);
  if (q_lora_rank < 0) return make_error("{}: field q_lora_rank is negative", label);
  if (num_nextn_predict_layers < 0)
    return make_error("{}: field num_nextn_predict_layers is negative", label);
  bool any_dense = false;
  for (int64_t l = 0; l < num_hidden_layers + num_nextn_predict_layers; ++l)
    any_dense |= !is_moe_layer(l);
  if (any_dense) R1_TRY(pos("intermediate_size", intermediate_size));
  if (n_routed_experts > 0) {
    R1_TRY(pos("moe_intermediate_size", moe_intermediate_size));
    R1_TRY(pos("num_experts_per_tok", num_experts_per_tok));
    if (scoring_func != "sigmoid" && scoring_func != "softmax")
      return make_error("{}: field scoring_func: unknown value \"{}\" (sigmoid, softmax)", label,
                        scoring_func);
    if (topk_method != "noaux_tc" && topk_method != "greedy" &&
        topk_method != "group_limited_greedy")
      return make_error("{}: field topk_method: unknown value \"{}\" (noaux_tc, greedy, "
                        "group_limited_greedy)", label, topk_method);
    if (topk_method != "greedy") {
      if (n_group <= 0 || n_routed_experts % n_group != 0)
        return make_error("{}: n_routed_experts {} is not a multiple of n_group {}", label,
                          n_routed_experts, n_group);
      if (topk_group <= 0 || topk_group > n_group)
        return make_error("{}: topk_group {} not in 1..n_group {}", label, topk_group, n_group);
      if (num_experts_per_tok > n_routed_experts / n_group * topk_group)
        return make_error("{}: num_experts_per_tok {} exceeds the experts of {} kept groups", label,
                          num_experts_per_tok, topk_group);
    } else if (num_experts_per_tok > n_routed_experts) {
      return make_error("{}: num_experts_per_tok {} exceeds n_routed_experts {}", label,
                        num_experts_per_tok, n_routed_experts);
    }
  }
  if (rope_scaling.type == kernels::RopeScalingType::Yarn &&
      (rope_scaling.factor <= 0 || rope_scaling.original_max_position_embeddings <= 0))
    return make_error("{}: rope_scaling yarn needs factor > 0 and "
                      "original_max_position_embeddings > 0", label);
  return {};
}

Result<Config> parse_config(const json& j, const std::string& label) {
  if (!j.is_object()) return make_error("{}: not a JSON object", label);
  Config c;
  R1_TRY(get_string(j, label, "model_type", c.model_type));
  R1_TRY(get_int(j, label, "vocab_size", c.vocab_size, true));
  R1_TRY(get_int(j, label, "hidden_size", c.hidden_size, true));
  R1_TRY(get_int(j, label, "intermediate_size", c.intermediate_size, false));
  R1_TRY(get_int(j, label, "moe_intermediate_size", c.moe_intermediate_size, false));
  R1_TRY(get_int(j, label, "num_hidden_layers", c.num_hidden_layers, true));
  R1_TRY(get_int(j, label, "num_nextn_predict_layers", c.num_nextn_predict_layers, false));
  R1_TRY(get_int(j, label, "num_attention_heads", c.num_attention_heads, true));
  R1_TRY(get_int(j, label, "n_shared_experts", c.n_shared_experts, false));
  R1_TRY(get_int(j, label, "n_routed_experts", c.n_routed_experts, false));
  R1_TRY(get_float(j, label, "routed_scaling_factor", c.routed_scaling_factor));
  R1_TRY(get_int(j, label, "kv_lora_rank", c.kv_lora_rank, true));
  R1_TRY(get_int(j, label, "q_lora_rank", c.q_lora_rank, false));
  R1_TRY(get_int(j, label, "qk_rope_head_dim", c.qk_rope_head_dim, true));
  R1_TRY(get_int(j, label, "v_head_dim", c.v_head_dim, true));
  R1_TRY(get_int(j, label, "qk_nope_head_dim", c.qk_nope_head_dim, true));
  // V2 checkpoints default to greedy softmax routing (DeepseekV2Config); V3 to noaux_tc sigmoid.
  if (c.model_type == "deepseek_v2") {
    c.topk_method = "greedy";
    c.scoring_func = "softmax";
  }
  R1_TRY(get_string(j, label, "topk_method", c.topk_method));
  R1_TRY(get_int(j, label, "n_group", c.n_group, false));
  R1_TRY(get_int(j, label, "topk_group", c.topk_group, false));
  R1_TRY(get_int(j, label, "num_experts_per_tok", c.num_experts_per_tok, false));
  R1_TRY(get_int(j, label, "moe_layer_freq", c.moe_layer_freq, false));
  R1_TRY(get_int(j, label, "first_k_dense_replace", c.first_k_dense_replace, false));
  R1_TRY(get_bool(j, label, "norm_topk_prob", c.norm_topk_prob));
  R1_TRY(get_string(j, label, "scoring_func", c.scoring_func));
  R1_TRY(get_int(j, label, "max_position_embeddings", c.max_position_embeddings, false));
  R1_TRY(get_float(j, label, "rope_theta", c.rope_theta));
  R1_TRY(get_float(j, label, "rms_norm_eps", c.rms_norm_eps));
  R1_TRY(get_bool(j, label, "tie_word_embeddings", c.tie_word_embeddings));
  bool attention_bias = false;
  R1_TRY(get_bool(j, label, "attention_bias", attention_bias));
  if (attention_bias)
    return make_error("{}: field attention_bias: true is not supported by DeepSeek MLA", label);
  int64_t bos = -1;
  R1_TRY(get_int(j, label, "bos_token_id", bos, false));
  c.bos_token_id = int32_t(bos);
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_number_integer()) {
      c.eos_token_ids.push_back(it->get<int32_t>());
    } else if (it->is_array()) {
      for (const auto& e : *it) {
        if (!e.is_number_integer())
          return make_error("{}: field eos_token_id: expected integers", label);
        c.eos_token_ids.push_back(e.get<int32_t>());
      }
    } else {
      return make_error("{}: field eos_token_id: expected an integer or a list", label);
    }
  }
  if (auto it = j.find("rope_scaling"); it != j.end() && !it->is_null()) {
    if (!it->is_object()) return make_error("{}: field rope_scaling: expected an object", label);
    std::string type;
    const std::string sl = label + ": rope_scaling";
    R1_TRY(get_string(*it, sl, "type", type));
    R1_TRY(get_string(*it, sl, "rope_type", type));
    if (type == "yarn") {
      auto& r = c.rope_scaling;
      r.type = kernels::RopeScalingType::Yarn;
      R1_TRY(get_float(*it, sl, "factor", r.factor));
      R1_TRY(get_int(*it, sl, "original_max_position_embeddings",
                     r.original_max_position_embeddings, true));
      R1_TRY(get_float(*it, sl, "beta_fast", r.beta_fast));
      R1_TRY(get_float(*it, sl, "beta_slow", r.beta_slow));
      R1_TRY(get_float(*it, sl, "mscale", r.mscale));
      R1_TRY(get_float(*it, sl, "mscale_all_dim", r.mscale_all_dim));
    } else if (type == "linear") {
      c.rope_scaling.type = kernels::RopeScalingType::Linear;
      R1_TRY(get_float(*it, sl, "factor", c.rope_scaling.factor));
    } else if (!type.empty() && type != "default") {
      return make_error("{}: type \"{}\" is not supported (yarn, linear)", sl, type);
    }
  }
  if (auto it = j.find("quantization_config"); it != j.end() && it->is_object()) {
    if (auto b = it->find("weight_block_size"); b != it->end() && !b->is_null()) {
      if (!b->is_array() || b->size() != 2 || !(*b)[0].is_number_integer() ||
          !(*b)[1].is_number_integer() || (*b)[0].get<int64_t>() <= 0 ||
          (*b)[1].get<int64_t>() <= 0)
        return make_error("{}: quantization_config.weight_block_size: expected two positive "
                          "integers", label);
      c.fp8_block_n = (*b)[0].get<int64_t>();
      c.fp8_block_k = (*b)[1].get<int64_t>();
    }
  }
  R1_TRY(c.validate(label));
  return c;
}

std::vector<TensorSpec> tensor_plan(const Config& c) {
  const int64_t D = c.hidden_size, H = c.num_attention_heads, L = c.kv_lora_rank;
  const int64_t R = c.qk_rope_head_dim, Dn = c.qk_nope_head_dim, Dv = c.v_head_dim;
  std::vector<TensorSpec> p;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool linear = false,
                 bool optional = false) {
    p.push_back({std::move(name), std::move(shape), linear, optional});
  };
  auto mlp = [&](const std::string& pre, int64_t F) {
    add(pre + "gate_proj.weight", {F, D}, true);
    add(pre + "up_proj.weight", {F, D}, true);
    add(pre + "down_proj.weight", {D, F}, true);
  };
  add("model.embed_tokens.weight", {c.vocab_size, D});
  const int64_t n_layers = c.num_hidden_layers + c.num_nextn_predict_layers;
  for (int64_t l = 0; l < n_layers; ++l) {
    const std::string pre = fmt::format("model.layers.{}.", l);
    if (l >= c.num_hidden_layers) {  // MTP module (DeepSeek-V3 report §2.2, HF layout)
      add(pre + "embed_tokens.weight", {c.vocab_size, D}, false, true);
      add(pre + "enorm.weight", {D});
      add(pre + "hnorm.weight", {D});
      add(pre + "eh_proj.weight", {D, 2 * D}, true);
      add(pre + "shared_head.norm.weight", {D});
      add(pre + "shared_head.head.weight", {c.vocab_size, D}, false, true);
    }
    add(pre + "input_layernorm.weight", {D});
    const std::string at = pre + "self_attn.";
    if (c.q_lora_rank > 0) {
      add(at + "q_a_proj.weight", {c.q_lora_rank, D}, true);
      add(at + "q_a_layernorm.weight", {c.q_lora_rank});
      add(at + "q_b_proj.weight", {H * (Dn + R), c.q_lora_rank}, true);
    } else {
      add(at + "q_proj.weight", {H * (Dn + R), D}, true);
    }
    add(at + "kv_a_proj_with_mqa.weight", {L + R, D}, true);
    add(at + "kv_a_layernorm.weight", {L});
    add(at + "kv_b_proj.weight", {H * (Dn + Dv), L}, true);
    add(at + "o_proj.weight", {D, H * Dv}, true);
    add(pre + "post_attention_layernorm.weight", {D});
    if (c.is_moe_layer(l)) {
      add(pre + "mlp.gate.weight", {c.n_routed_experts, D});
      if (c.topk_method == "noaux_tc")
        add(pre + "mlp.gate.e_score_correction_bias", {c.n_routed_experts});
      for (int64_t e = 0; e < c.n_routed_experts; ++e)
        mlp(fmt::format("{}mlp.experts.{}.", pre, e), c.moe_intermediate_size);
      if (c.n_shared_experts > 0)
        mlp(pre + "mlp.shared_experts.", c.moe_intermediate_size * c.n_shared_experts);
    } else {
      mlp(pre + "mlp.", c.intermediate_size);
    }
  }
  add("model.norm.weight", {D});
  add("lm_head.weight", {c.vocab_size, D}, false, c.tie_word_embeddings);
  return p;
}

ParamCount count_params(const Config& c, const std::vector<TensorSpec>& plan) {
  ParamCount pc;
  const std::string mtp_prefix = fmt::format("model.layers.{}.", c.num_hidden_layers);
  for (const auto& t : plan) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    pc.total += n;
    // MTP layers are the last ones, so "index >= N" is "name >= the first MTP prefix" only by
    // number; parse the index instead.
    bool mtp = false;
    if (t.name.rfind("model.layers.", 0) == 0) {
      const int64_t idx = std::stoll(t.name.substr(13));
      mtp = idx >= c.num_hidden_layers;
    }
    if (mtp) {
      pc.mtp += n;
      continue;
    }
    const bool routed = t.name.find(".mlp.experts.") != std::string::npos;
    if (!routed) pc.active_per_token += n;
  }
  // Routed experts active per token: K of E in each MoE layer.
  int64_t moe_layers = 0;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) moe_layers += c.is_moe_layer(l);
  pc.active_per_token += moe_layers * c.num_experts_per_tok * 3 * c.moe_intermediate_size *
                         c.hidden_size;
  return pc;
}

Result<void> check_shapes(
    const std::vector<TensorSpec>& plan,
    const std::function<bool(const std::string&, std::vector<int64_t>&)>& shape_of,
    const std::string& label) {
  std::vector<int64_t> got;
  for (const auto& t : plan) {
    got.clear();
    if (!shape_of(t.name, got)) {
      if (t.optional) continue;
      return make_error("{}: tensor {} missing", label, t.name);
    }
    if (got != t.shape)
      return make_error("{}: tensor {} has shape [{}], expected [{}]", label, t.name,
                        fmt::join(got, ", "), fmt::join(t.shape, ", "));
  }
  return {};
}

}  // namespace r1::models::deepseek_v3
