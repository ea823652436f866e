// deepseek2 GGUF -> HF-named config and tensors (llama.cpp's convert_hf_to_gguf conventions).
#include "models/deepseek_v3/gguf.h"

#include <cstring>

#include <fmt/format.h>

#include "models/model_info.h"
#include "nn/mla.h"

namespace r1::models::deepseek_v3 {

Result<Config> config_from_gguf(const io::GgufFile& f) {
  const std::string A = "deepseek2.";
  nlohmann::json j;
  j["model_type"] = "deepseek_v3";
  auto u32 = [&](const char* key, const char* field, bool required) -> Result<void> {
    if (!f.has(A + key)) {
      if (required) return make_error("{}: metadata key {}{} missing", f.path(), A, key);
      return {};
    }
    R1_ASSIGN_OR_RETURN(v, f.get_u32(A + key));
    j[field] = v;
    return {};
  };
  R1_TRY(u32("embedding_length", "hidden_size", true));
  R1_TRY(u32("block_count", "num_hidden_layers", true));
  R1_TRY(u32("feed_forward_length", "intermediate_size", false));
  R1_TRY(u32("attention.head_count", "num_attention_heads", true));
  R1_TRY(u32("attention.q_lora_rank", "q_lora_rank", false));
  R1_TRY(u32("attention.kv_lora_rank", "kv_lora_rank", true));
  R1_TRY(u32("rope.dimension_count", "qk_rope_head_dim", true));
  R1_TRY(u32("attention.value_length_mla", "v_head_dim", false));
  R1_TRY(u32("context_length", "max_position_embeddings", false));
  R1_TRY(u32("leading_dense_block_count", "first_k_dense_replace", false));
  R1_TRY(u32("expert_feed_forward_length", "moe_intermediate_size", false));
  R1_TRY(u32("expert_count", "n_routed_experts", false));
  R1_TRY(u32("expert_used_count", "num_experts_per_tok", false));
  R1_TRY(u32("expert_shared_count", "n_shared_experts", false));
  R1_TRY(u32("expert_group_count", "n_group", false));
  R1_TRY(u32("expert_group_used_count", "topk_group", false));
  R1_TRY(u32("nextn_predict_layers", "num_nextn_predict_layers", false));
  // Per-head q/k dim: key_length_mla (newer files) or key_length (older files without the
  // MQA re-layout, where key_length is nope + rope).
  int64_t qk_head = 0;
  if (f.has(A + "attention.key_length_mla")) {
    R1_ASSIGN_OR_RETURN(v, f.get_u32(A + "attention.key_length_mla"));
    qk_head = v;
  } else if (f.has(A + "attention.key_length")) {
    R1_ASSIGN_OR_RETURN(v, f.get_u32(A + "attention.key_length"));
    qk_head = v;
  }
  if (!j.contains("v_head_dim") && f.has(A + "attention.value_length")) {
    R1_ASSIGN_OR_RETURN(v, f.get_u32(A + "attention.value_length"));
    j["v_head_dim"] = v;
  }
  if (qk_head <= j.value("qk_rope_head_dim", int64_t(0)))
    return make_error("{}: metadata key {}attention.key_length_mla missing or not above the rope "
                      "dim", f.path(), A);
  j["qk_nope_head_dim"] = qk_head - j["qk_rope_head_dim"].get<int64_t>();
  auto f32 = [&](const char* key, const char* field) -> Result<void> {
    if (!f.has(A + key)) return {};
    R1_ASSIGN_OR_RETURN(v, f.get_f32(A + key));
    j[field] = double(v);
    return {};
  };
  R1_TRY(f32("attention.layer_norm_rms_epsilon", "rms_norm_eps"));
  R1_TRY(f32("rope.freq_base", "rope_theta"));
  R1_TRY(f32("expert_weights_scale", "routed_scaling_factor"));
  if (f.has(A + "expert_weights_norm")) {
    R1_ASSIGN_OR_RETURN(v, f.get_bool(A + "expert_weights_norm"));
    j["norm_topk_prob"] = v;
  }
  uint32_t gating = 1;  // llama.cpp: absent means softmax (DeepSeek-V2)
  if (f.has(A + "expert_gating_func")) {
    R1_ASSIGN_OR_RETURN(v, f.get_u32(A + "expert_gating_func"));
    gating = v;
  }
  if (gating != 1 && gating != 2)
    return make_error("{}: {}expert_gating_func {} is not 1 (softmax) or 2 (sigmoid)", f.path(), A,
                      gating);
  j["scoring_func"] = gating == 2 ? "sigmoid" : "softmax";
  // The correction bias (exp_probs_b) marks V3's noaux_tc routing; groups without it are V2's
  // group_limited_greedy.
  const bool has_bias = f.has_tensor(fmt::format("blk.{}.exp_probs_b.bias",
                                                 j.value("first_k_dense_replace", int64_t(0))));
  const int64_t groups = j.value("n_group", int64_t(1));
  j["topk_method"] = has_bias ? "noaux_tc" : groups > 1 ? "group_limited_greedy" : "greedy";
  if (f.has(A + "rope.scaling.type")) {
    R1_ASSIGN_OR_RETURN(type, f.get_string(A + "rope.scaling.type"));
    if (type == "yarn") {
      nlohmann::json rs;
      rs["type"] = "yarn";
      R1_ASSIGN_OR_RETURN(factor, f.get_f32(A + "rope.scaling.factor"));
      R1_ASSIGN_OR_RETURN(orig, f.get_u32(A + "rope.scaling.original_context_length"));
      rs["factor"] = double(factor);
      rs["original_max_position_embeddings"] = orig;
      double mscale_all_dim = 0.0;
      if (f.has(A + "rope.scaling.yarn_log_multiplier")) {
        R1_ASSIGN_OR_RETURN(m, f.get_f32(A + "rope.scaling.yarn_log_multiplier"));
        mscale_all_dim = double(m) / 0.1;  // llama.cpp stores 0.1 * mscale_all_dim
      }
      // llama.cpp scales cos/sin by yarn_get_mscale(factor, 1) / that same value: 1, as HF does
      // when mscale == mscale_all_dim; only the softmax scale carries mscale_all_dim.
      rs["mscale"] = mscale_all_dim;
      rs["mscale_all_dim"] = mscale_all_dim;
      j["rope_scaling"] = rs;
    } else if (type != "none") {
      return make_error("{}: {}rope.scaling.type '{}' is not supported (yarn)", f.path(), A, type);
    }
  }
  // Vocabulary: deepseek2.vocab_size, else the rows of token_embd.weight.
  if (f.has(A + "vocab_size")) {
    R1_ASSIGN_OR_RETURN(v, f.get_u32(A + "vocab_size"));
    j["vocab_size"] = v;
  } else if (const auto* ti = f.tensor_info("token_embd.weight")) {
    j["vocab_size"] = ti->shape()[0];
  }
  j["tie_word_embeddings"] = !f.has_tensor("output.weight");
  return parse_config(j, f.path());
}

Deepseek2GgufSource::Deepseek2GgufSource(const io::GgufFile* file, const Config& cfg)
    : file_(file), cfg_(cfg), label_(file->path()) {}

const char* deepseek2_layer_tensor_name(const std::string& rest) {
  static const std::map<std::string, std::string> kLayer = {
      {"input_layernorm.weight", "attn_norm.weight"},
      {"post_attention_layernorm.weight", "ffn_norm.weight"},
      {"self_attn.q_proj.weight", "attn_q.weight"},
      {"self_attn.q_a_proj.weight", "attn_q_a.weight"},
      {"self_attn.q_a_layernorm.weight", "attn_q_a_norm.weight"},
      {"self_attn.q_b_proj.weight", "attn_q_b.weight"},
      {"self_attn.kv_a_proj_with_mqa.weight", "attn_kv_a_mqa.weight"},
      {"self_attn.kv_a_layernorm.weight", "attn_kv_a_norm.weight"},
      {"self_attn.o_proj.weight", "attn_output.weight"},
      {"mlp.gate_proj.weight", "ffn_gate.weight"},
      {"mlp.up_proj.weight", "ffn_up.weight"},
      {"mlp.down_proj.weight", "ffn_down.weight"},
      {"mlp.gate.weight", "ffn_gate_inp.weight"},
      {"mlp.gate.e_score_correction_bias", "exp_probs_b.bias"},
      {"mlp.shared_experts.gate_proj.weight", "ffn_gate_shexp.weight"},
      {"mlp.shared_experts.up_proj.weight", "ffn_up_shexp.weight"},
      {"mlp.shared_experts.down_proj.weight", "ffn_down_shexp.weight"},
      {"enorm.weight", "enorm.weight"},
      {"hnorm.weight", "hnorm.weight"},
      {"eh_proj.weight", "eh_proj.weight"},
      {"shared_head.norm.weight", "shared_head_norm.weight"},
      {"shared_head.head.weight", "shared_head_head.weight"},
      {"embed_tokens.weight", "embed_tokens.weight"},
  };  const auto it = kLayer.find(rest);
  return it == kLayer.end() ? nullptr : it->second.c_str();
}

std::string Deepseek2GgufSource::map_name(const std::string& hf, int64_t& expert,
                                          bool& is_kv_b) const {
  expert = -1;
  is_kv_b = false;
  static const std::map<std::string, std::string> kTop = {
      {"model.embed_tokens.weight", "token_embd.weight"},
      {"model.norm.weight", "output_norm.weight"},
      {"lm_head.weight", "output.weight"},
  };
  if (auto it = kTop.find(hf); it != kTop.end()) return it->second;
  const std::string pre = "model.layers.";
  if (hf.rfind(pre, 0) != 0) return "";
  size_t dot = hf.find('.', pre.size());
  if (dot == std::string::npos) return "";
  const std::string layer = hf.substr(pre.size(), dot - pre.size());
  std::string rest = hf.substr(dot + 1);
  const std::string blk = "blk." + layer + ".";

  if (const char* g = deepseek2_layer_tensor_name(rest)) return blk + g;
  // The per-head absorbed weights as stored (nn::MlaWeights::w_uk / w_uv; no HF equivalent).
  if (rest == "self_attn.k_b_proj.weight") return blk + "attn_k_b.weight";
  if (rest == "self_attn.v_b_proj.weight") return blk + "attn_v_b.weight";
  if (rest == "self_attn.kv_b_proj.weight") {
    is_kv_b = true;
    return blk + "attn_k_b.weight";
  }
  const std::string ex = "mlp.experts.";
  if (rest.rfind(ex, 0) == 0) {
    const size_t d2 = rest.find('.', ex.size());
    if (d2 == std::string::npos) return "";
    expert = std::stoll(rest.substr(ex.size(), d2 - ex.size()));
    const std::string proj = rest.substr(d2 + 1);
    if (proj == "gate_proj.weight") return blk + "ffn_gate_exps.weight";
    if (proj == "up_proj.weight") return blk + "ffn_up_exps.weight";
    if (proj == "down_proj.weight") return blk + "ffn_down_exps.weight";
  }
  return "";
}

bool Deepseek2GgufSource::has(const std::string& name) const {
  int64_t expert;
  bool kv_b;
  const std::string g = map_name(name, expert, kv_b);
  if (g.empty() || !file_->has_tensor(g)) return false;
  if (kv_b) return file_->has_tensor(g.substr(0, g.size() - 15) + "attn_v_b.weight");
  if (expert >= 0) return expert < file_->tensor_info(g)->shape()[0];
  return true;
}

Result<Tensor> Deepseek2GgufSource::get(const std::string& name) const {
  int64_t expert;
  bool kv_b;
  const std::string g = map_name(name, expert, kv_b);
  if (g.empty() || !file_->has_tensor(g)) return make_error("{}: tensor {} missing", label_, name);
  if (expert >= 0) {
    R1_ASSIGN_OR_RETURN(t, file_->tensor(g));
    if (t.ndim() != 3 || expert >= t.dim(0))
      return make_error("{}: tensor {} is {}, expected [n_expert, rows, cols]", label_, g,
                        t.shape_str());
    notify_gguf_load(g, t);
    return t.slice_rows(expert, expert + 1).reshape({t.dim(1), t.dim(2)});
  }
  if (!kv_b) {
    R1_ASSIGN_OR_RETURN(t, file_->tensor(g));
    notify_gguf_load(g, t);
    return t;
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (auto it = built_.find(name); it != built_.end()) return it->second;
  const std::string vname = g.substr(0, g.size() - 15) + "attn_v_b.weight";
  R1_ASSIGN_OR_RETURN(kb, file_->tensor(g));
  R1_ASSIGN_OR_RETURN(vb, file_->tensor(vname));
  const int64_t H = cfg_.num_attention_heads, L = cfg_.kv_lora_rank;
  const int64_t Dn = cfg_.qk_nope_head_dim, Dv = cfg_.v_head_dim;
  auto same = [](const Tensor& t, std::vector<int64_t> s) {
    if (t.ndim() != int(s.size())) return false;
    for (int i = 0; i < t.ndim(); ++i)
      if (t.dim(i) != s[size_t(i)]) return false;
    return true;
  };
  if (!same(kb, {H, L, Dn}))
    return make_error("{}: tensor {} is {}, expected [{}, {}, {}]", label_, g, kb.shape_str(), H, L,
                      Dn);
  if (!same(vb, {H, Dv, L}))
    return make_error("{}: tensor {} is {}, expected [{}, {}, {}]", label_, vname, vb.shape_str(),
                      H, Dv, L);
  Tensor kv = Tensor::zeros(DType::F32, {H * (Dn + Dv), L});  // [H, Dn + Dv, L]
  nn::kv_b_f32_from_heads(kb, vb, kv.data<float>());
  built_[name] = kv;
  return kv;
}

Result<std::unique_ptr<DeepseekV3>> load_gguf(const io::GgufFile& f, const LoadOptions& opts,
                                              ThreadPool& pool) {
  R1_ASSIGN_OR_RETURN(cfg, config_from_gguf(f));
  R1_ASSIGN_OR_RETURN(info, gguf_model_info(f, "deepseek2"));
  Deepseek2GgufSource src(&f, cfg);
  return DeepseekV3::load(cfg, src, opts, std::move(info), pool);
}

}  // namespace r1::models::deepseek_v3
