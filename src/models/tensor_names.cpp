#include "models/tensor_names.h"

#include <cstdlib>

#include <fmt/format.h>

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

}  // namespace r1::models
