// DeepSeek-V2/V3 HF checkpoints -> llama.cpp GGUF arch `deepseek2` (the inverse of
// models/deepseek_v3/gguf.cpp; key names and layouts as llama.cpp's convert_hf_to_gguf.py
// DeepseekV2Model writes them).
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "models/convert.h"
#include "models/deepseek_v3/config.h"
#include "models/deepseek_v3/gguf.h"
#include "nn/mla.h"

namespace r1::models {

Result<void> write_deepseek2_gguf(const io::HfModelDir& dir, const QuantOptions& q,
                                  const std::string& out_path, std::vector<std::string>* notes) {
  const std::string label = dir.dir() + "/config.json";
  R1_ASSIGN_OR_RETURN(c, deepseek_v3::parse_config(dir.config(), label));
  for (int64_t l = c.first_k_dense_replace; l < c.num_hidden_layers; ++l)
    if (c.n_routed_experts > 0 && !c.is_moe_layer(l))
      return make_error("{}: layer {} is dense after first_k_dense_replace {} (moe_layer_freq {}): "
                        "llama.cpp's deepseek2 has only leading dense layers",
                        label, l, c.first_k_dense_replace, c.moe_layer_freq);
  const int64_t H = c.num_attention_heads, L = c.kv_lora_rank, R = c.qk_rope_head_dim;
  const int64_t Dn = c.qk_nope_head_dim, Dv = c.v_head_dim;

  const std::string A = "deepseek2";
  io::GgufWriter w;
  w.set_string("general.architecture", A);
  std::filesystem::path p(dir.dir());
  w.set_string("general.name", p.filename().empty() ? p.parent_path().filename().string()
                                                    : p.filename().string());
  set_gguf_file_type(w, q);
  auto u32 = [&](const std::string& k, int64_t v) { w.set_u32(A + "." + k, uint32_t(v)); };
  u32("block_count", c.num_hidden_layers);
  u32("context_length", c.max_position_embeddings);
  u32("embedding_length", c.hidden_size);
  u32("feed_forward_length", c.intermediate_size);
  u32("attention.head_count", H);
  u32("attention.head_count_kv", 1);  // MLA stored as MQA over the latent
  w.set_f32(A + ".rope.freq_base", float(c.rope_theta));
  w.set_f32(A + ".attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  if (c.n_routed_experts > 0) u32("expert_used_count", c.num_experts_per_tok);
  u32("leading_dense_block_count", c.n_routed_experts > 0 ? c.first_k_dense_replace
                                                           : c.num_hidden_layers);
  u32("vocab_size", c.vocab_size);
  if (c.q_lora_rank > 0) u32("attention.q_lora_rank", c.q_lora_rank);
  u32("attention.kv_lora_rank", L);
  u32("attention.key_length", L + R);
  u32("attention.value_length", L);
  u32("attention.key_length_mla", Dn + R);
  u32("attention.value_length_mla", Dv);
  if (c.n_routed_experts > 0) {
    u32("expert_feed_forward_length", c.moe_intermediate_size);
    u32("expert_count", c.n_routed_experts);
    u32("expert_shared_count", c.n_shared_experts);
    w.set_f32(A + ".expert_weights_scale", float(c.routed_scaling_factor));
    w.set_bool(A + ".expert_weights_norm", c.norm_topk_prob);
    u32("expert_gating_func", c.scoring_func == "sigmoid" ? 2 : 1);  // LLAMA_EXPERT_GATING_FUNC
    if (c.n_group > 1) {
      u32("expert_group_count", c.n_group);
      u32("expert_group_used_count", c.topk_group);
    }
  }
  u32("rope.dimension_count", R);
  const auto& rs = c.rope_scaling;
  if (rs.type == kernels::RopeScalingType::Yarn) {
    w.set_string(A + ".rope.scaling.type", "yarn");
    w.set_f32(A + ".rope.scaling.factor", float(rs.factor));
    u32("rope.scaling.original_context_length", rs.original_max_position_embeddings);
    // llama.cpp's convention: 0.1 * mscale_all_dim (it rebuilds the softmax scale from it).
    w.set_f32(A + ".rope.scaling.yarn_log_multiplier", float(0.1 * rs.mscale_all_dim));
    if ((rs.mscale != rs.mscale_all_dim || rs.beta_fast != 32.0 || rs.beta_slow != 1.0) && notes)
      notes->push_back("rope_scaling mscale != mscale_all_dim or beta_fast/beta_slow != 32/1: "
                       "llama.cpp's deepseek2 assumes otherwise and will differ from HF");
  } else if (rs.type != kernels::RopeScalingType::None) {
    return make_error("{}: rope_scaling other than yarn is not supported for deepseek2", label);
  }
  if (c.bos_token_id >= 0) w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(c.bos_token_id));
  if (!c.eos_token_ids.empty())
    w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(c.eos_token_ids[0]));
  R1_ASSIGN_OR_RETURN(has_tok,
                      add_gguf_tokenizer(w, dir.dir(), c.vocab_size,
                                         c.model_type == "deepseek_v2" ? "deepseek-llm"
                                                                       : "deepseek-v3",
                                         true));
  if (!has_tok) w.set_string("tokenizer.ggml.model", "no_vocab");

  // A weight as a tensor the writer can convert: FP8 dequantised with its block scales.
  auto load = [&](const deepseek_v3::TensorSpec& s) -> Result<Tensor> {
    R1_ASSIGN_OR_RETURN(t, dir.tensor(s.name, s.shape));
    if (t.dtype() != DType::F8_E4M3) return t;
    R1_ASSIGN_OR_RETURN(si, dir.weight_scale_inv(s.name));
    return nn::weight_to_f32(t, &si, c.fp8_block_n, c.fp8_block_k);
  };
  // Types are chosen once every tensor is known (llama.cpp's rules count over the whole file);
  // the router stays F32 as llama.cpp keeps it (choose_tensor_types).
  std::vector<PendingTensor> pending;
  auto add = [&](const std::string& gname, const Tensor& t) -> Result<void> {
    pending.push_back({gname, t});
    return {};
  };

  const auto plan = deepseek_v3::tensor_plan(c);
  // Routed experts of the current layer, stacked as they arrive: [proj][expert].
  std::vector<Tensor> experts[3];
  for (size_t i = 0; i < plan.size(); ++i) {
    const auto& s = plan[i];
    if (s.name == "model.embed_tokens.weight" || s.name == "model.norm.weight" ||
        s.name == "lm_head.weight") {
      if (s.optional && !dir.has(s.name)) continue;  // tied lm_head: llama.cpp reuses token_embd
      R1_ASSIGN_OR_RETURN(t, load(s));
      R1_TRY(add(s.name == "lm_head.weight"      ? "output.weight"
                 : s.name == "model.norm.weight" ? "output_norm.weight"
                                                 : "token_embd.weight",
                 t));
      continue;
    }
    const size_t d = s.name.find('.', 13);
    const int64_t layer = std::stoll(s.name.substr(13, d - 13));
    if (layer >= c.num_hidden_layers) continue;  // MTP module: skipped as llama.cpp does
    const std::string rest = s.name.substr(d + 1), blk = fmt::format("blk.{}.", layer);
    if (const char* g = deepseek_v3::deepseek2_layer_tensor_name(rest)) {
      R1_ASSIGN_OR_RETURN(t, load(s));
      R1_TRY(add(blk + g, t));
    } else if (rest == "self_attn.kv_b_proj.weight") {
      // [H, Dn + Dv, L] -> attn_k_b [H, L, Dn] (k part transposed) and attn_v_b [H, Dv, L].
      R1_ASSIGN_OR_RETURN(t, load(s));
      const Tensor kv = nn::weight_to_f32(t);
      const float* src = kv.data<float>();
      Tensor kb = Tensor::zeros(DType::F32, {H, L, Dn}), vb = Tensor::zeros(DType::F32, {H, Dv, L});
      float* k = kb.data<float>();
      float* v = vb.data<float>();
      for (int64_t h = 0; h < H; ++h) {
        const float* hs = src + h * (Dn + Dv) * L;
        for (int64_t n = 0; n < Dn; ++n)
          for (int64_t l = 0; l < L; ++l) k[(h * L + l) * Dn + n] = hs[n * L + l];
        std::memcpy(v + h * Dv * L, hs + Dn * L, size_t(Dv * L) * sizeof(float));
      }
      R1_TRY(add(blk + "attn_k_b.weight", kb));
      R1_TRY(add(blk + "attn_v_b.weight", vb));
    } else if (rest.rfind("mlp.experts.", 0) == 0) {
      const int proj = rest.ends_with("gate_proj.weight") ? 0
                       : rest.ends_with("up_proj.weight") ? 1
                                                          : 2;
      R1_ASSIGN_OR_RETURN(t, load(s));
      experts[proj].push_back(t);
      if (proj != 2 || int64_t(experts[2].size()) != c.n_routed_experts) continue;
      // Last expert's down_proj: write the three stacks [E, rows, cols] in the source dtype.
      static const char* kNames[3] = {"ffn_gate_exps.weight", "ffn_up_exps.weight",
                                      "ffn_down_exps.weight"};
      for (int j = 0; j < 3; ++j) {
        const Tensor& e0 = experts[j][0];
        for (const auto& e : experts[j])
          if (e.dtype() != e0.dtype())
            return make_error("{}: layer {} experts mix dtypes {} and {}", label, layer,
                              dtype_name(e0.dtype()), dtype_name(e.dtype()));
        Tensor st = Tensor::zeros(e0.dtype(), {c.n_routed_experts, e0.dim(0), e0.dim(1)});
        for (size_t e = 0; e < experts[j].size(); ++e)
          std::memcpy(st.mutable_bytes() + e * e0.nbytes(), experts[j][e].bytes(), e0.nbytes());
        R1_TRY(add(blk + kNames[j], st));
        experts[j].clear();
      }
    } else {
      return make_error("{}: no deepseek2 GGUF name for tensor {}", label, s.name);
    }
  }
  if (c.num_nextn_predict_layers > 0 && notes)
    notes->push_back(fmt::format(
        "skipped {} MTP layer(s) (model.layers.{}..): llama.cpp's deepseek2 has no MTP, as its "
        "converter does", c.num_nextn_predict_layers, c.num_hidden_layers));
  R1_TRY(add_tensors_as_chosen(w, pending, {c.num_hidden_layers, H, 1, c.n_routed_experts}, q));
  return w.write(out_path);
}

}  // namespace r1::models
