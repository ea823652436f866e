#include "models/tensor_names.h"

#include <cstdlib>

#include <fmt/format.h>

#include "models/decoder_config.h"

namespace r1::models {
namespace {

struct NamePair {
  const char* hf;    // suffix after "model.layers.N."
  const char* gguf;  // suffix after "blk.N."
};

constexpr NamePair kLayerNames[int(LayerTensor::kCount)] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"self_attn.q_proj.weight", "attn_q.weight"},
    {"self_attn.q_proj.bias", "attn_q.bias"},
    {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.k_proj.bias", "attn_k.bias"},
    {"self_attn.v_proj.weight", "attn_v.weight"},
    {"self_attn.v_proj.bias", "attn_v.bias"},
    {"self_attn.o_proj.weight", "attn_output.weight"},
    {"self_attn.o_proj.bias", "attn_output.bias"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},
    {"mlp.gate_proj.bias", "ffn_gate.bias"},
    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.up_proj.bias", "ffn_up.bias"},
    {"mlp.down_proj.weight", "ffn_down.weight"},
    {"mlp.down_proj.bias", "ffn_down.bias"},
};

constexpr NamePair kGlobalNames[int(GlobalTensor::kCount)] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

}  // namespace

std::string layer_tensor_name(NameStyle style, int64_t layer, LayerTensor t) {
  const NamePair& p = kLayerNames[int(t)];
  return style == NameStyle::HF ? fmt::format("model.layers.{}.{}", layer, p.hf)
                                : fmt::format("blk.{}.{}", layer, p.gguf);
}

std::string global_tensor_name(NameStyle style, GlobalTensor t) {
  const NamePair& p = kGlobalNames[int(t)];
  return style == NameStyle::HF ? p.hf : p.gguf;
}

std::optional<std::string> hf_to_gguf_name(const std::string& hf_name) {
  for (const auto& p : kGlobalNames)
    if (hf_name == p.hf) return std::string(p.gguf);
  const std::string prefix = "model.layers.";
  if (hf_name.rfind(prefix, 0) != 0) return std::nullopt;
  const size_t dot = hf_name.find('.', prefix.size());
  if (dot == std::string::npos || dot == prefix.size()) return std::nullopt;
  const std::string num = hf_name.substr(prefix.size(), dot - prefix.size());
  if (num.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const std::string suffix = hf_name.substr(dot + 1);
  for (const auto& p : kLayerNames)
    if (suffix == p.hf) return "blk." + num + "." + p.gguf;
  return std::nullopt;
}

std::vector<TensorSpec> decoder_tensor_plan(const DecoderConfig& c, NameStyle style) {
  const int64_t D = c.hidden_size, F = c.intermediate_size, V = c.vocab_size;
  const int64_t Hq = c.num_attention_heads * c.head_dim, Hk = c.num_key_value_heads * c.head_dim;
  std::vector<TensorSpec> plan;
  auto add = [&](std::string name, std::vector<int64_t> shape, bool norm = false,
                 bool bias = false) {
    plan.push_back(TensorSpec{std::move(name), std::move(shape), norm, bias});
  };
  add(global_tensor_name(style, GlobalTensor::Embed), {V, D});
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    auto n = [&](LayerTensor t) { return layer_tensor_name(style, l, t); };
    add(n(LayerTensor::AttnNorm), {D}, true);
    add(n(LayerTensor::Q), {Hq, D});
    if (c.qkv_bias) add(n(LayerTensor::QBias), {Hq}, false, true);
    add(n(LayerTensor::K), {Hk, D});
    if (c.qkv_bias) add(n(LayerTensor::KBias), {Hk}, false, true);
    add(n(LayerTensor::V), {Hk, D});
    if (c.qkv_bias) add(n(LayerTensor::VBias), {Hk}, false, true);
    add(n(LayerTensor::O), {D, Hq});
    if (c.o_bias) add(n(LayerTensor::OBias), {D}, false, true);
    if (c.qk_norm) {
      add(n(LayerTensor::QNorm), {c.head_dim}, true);
      add(n(LayerTensor::KNorm), {c.head_dim}, true);
    }
    add(n(LayerTensor::FfnNorm), {D}, true);
    add(n(LayerTensor::Gate), {F, D});
    if (c.mlp_bias) add(n(LayerTensor::GateBias), {F}, false, true);
    add(n(LayerTensor::Up), {F, D});
    if (c.mlp_bias) add(n(LayerTensor::UpBias), {F}, false, true);
    add(n(LayerTensor::Down), {D, F});
    if (c.mlp_bias) add(n(LayerTensor::DownBias), {D}, false, true);
  }
  add(global_tensor_name(style, GlobalTensor::FinalNorm), {D}, true);
  if (!c.tie_word_embeddings) add(global_tensor_name(style, GlobalTensor::Head), {V, D});
  return plan;
}

}  // namespace r1::models
