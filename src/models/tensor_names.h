// Checkpoint tensor names of the Llama/Qwen2 decoder in both conventions: Hugging Face
// (`model.layers.N.self_attn.q_proj.weight`) and llama.cpp GGUF (`blk.N.attn_q.weight`).
// One table serves the loader and `r1 convert`.
#pragma once
#include <optional>
#include <string>

#include "models/tensor_source.h"

namespace r1::models {

enum class LayerTensor {
  AttnNorm, Q, QBias, K, KBias, V, VBias, O, OBias,
  FfnNorm, Gate, GateBias, Up, UpBias, Down, DownBias,
  kCount
};
enum class GlobalTensor { Embed, FinalNorm, Head, kCount };

/// Name of layer `layer`'s tensor `t` in `style`.
std::string layer_tensor_name(NameStyle style, int64_t layer, LayerTensor t);
/// Name of a model-level tensor in `style`.
std::string global_tensor_name(NameStyle style, GlobalTensor t);
/// Maps an HF decoder tensor name to its GGUF name (nullopt: not part of the decoder table, e.g.
/// rotary_emb.inv_freq buffers).
std::optional<std::string> hf_to_gguf_name(const std::string& hf_name);

}  // namespace r1::models
