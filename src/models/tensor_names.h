// Checkpoint tensor names of the Llama/Qwen2/Qwen3 decoder in both conventions: Hugging Face
// (`model.layers.N.self_attn.q_proj.weight`) and llama.cpp GGUF (`blk.N.attn_q.weight`).
// One table serves the loader and `r1 convert`.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "models/tensor_source.h"

namespace r1::models {

enum class LayerTensor {
  AttnNorm, Q, QBias, K, KBias, V, VBias, O, OBias, QNorm, KNorm,
  FfnNorm, Gate, GateBias, Up, UpBias, Down, DownBias,
  kCount
};
enum class GlobalTensor { Embed, FinalNorm, Head, kCount };

struct DecoderConfig;

/// One checkpoint tensor of a decoder: name, PyTorch-order shape, and its role for initialisers.
struct TensorSpec {
  std::string name;
  std::vector<int64_t> shape;
  bool is_norm = false;  // RMSNorm weight (initialised to 1)
  bool is_bias = false;
};

/// Every tensor a checkpoint of `cfg` holds, in checkpoint order (embedding, layers, final norm,
/// head unless tied), with the shapes the loader checks (q_norm/k_norm [Hd] when cfg.qk_norm).
/// No allocation of weights.
std::vector<TensorSpec> decoder_tensor_plan(const DecoderConfig& cfg, NameStyle style);

/// Name of layer `layer`'s tensor `t` in `style`.
std::string layer_tensor_name(NameStyle style, int64_t layer, LayerTensor t);
/// Name of a model-level tensor in `style`.
std::string global_tensor_name(NameStyle style, GlobalTensor t);
/// Maps an HF decoder tensor name to its GGUF name (nullopt: not part of the decoder table, e.g.
/// rotary_emb.inv_freq buffers).
std::optional<std::string> hf_to_gguf_name(const std::string& hf_name);

}  // namespace r1::models
