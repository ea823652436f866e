// `r1 convert`: an HF checkpoint to a GGUF file that llama.cpp and r1 both load (llama.cpp's
// tensor names and metadata keys; Q/K rows permuted for `llama` as llama.cpp's converter does;
// DeepSeek-V2/V3 as llama.cpp's `deepseek2` arch, see write_deepseek2_gguf).
#pragma once
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/result.h"
#include "io/gguf_writer.h"
#include "io/hf_model.h"
#include "models/convert_quant.h"
#include "models/decoder_config.h"

namespace r1::models {

/// Converts the HF directory `model_dir` to `out_path` with the matrices stored as
/// choose_tensor_types decides for `q` (llama.cpp's file type rules; e.g. q4_k_m, or a plain
/// DType for every matrix with the fallbacks for rows that are not whole blocks) and every 1-d
/// tensor (norms, biases) and MoE router as F32. Picks the architecture from config.json model_type
/// (llama, qwen2, qwen3, deepseek_v2/deepseek_v3 -> deepseek2; defined in registry.cpp). `notes`,
/// when given, receives one line per thing the file leaves out (e.g. DeepSeek-V3's MTP layers).
/// Errors: unsupported architecture/type, config or tensor errors, I/O failures (one line each).
Result<void> convert_to_gguf(const std::string& model_dir, const std::string& out_path,
                             const QuantOptions& q, std::vector<std::string>* notes = nullptr);

/// The decoder-family writer behind convert_to_gguf, for the architecture row `arch` (GGUF
/// general.architecture = arch.model_type). arch.gguf_permute_qk: reorder each q/k head's rows
/// from HF's rotate-half pairing (i, i + Hd/2) to adjacent pairs (2i, 2i + 1), as llama.cpp's
/// convert_hf_to_gguf.py `LlamaModel.permute` does (its `llama` arch uses NORM rope); the q/k
/// norms (qwen3 attn_q_norm/attn_k_norm [Hd]) are per-head vectors and are never permuted.
/// Writes ARCH.attention.key_length/value_length = head_dim (as llama.cpp's converter does when
/// config.json has head_dim), llama3 rope scaling as the rope_freqs.weight divisors llama.cpp
/// expects, and the tokenizer (tokenizer.ggml.model gpt2, tokens, token_type, merges, pre
/// arch.gguf_tokenizer_pre) when tokenizer.json is a BPE model, else tokenizer.ggml.model
/// "no_vocab".
Result<void> write_decoder_gguf(const io::HfModelDir& dir, const DecoderConfig& cfg,
                                const DecoderArch& arch, const QuantOptions& q,
                                const std::string& out_path);

/// DeepSeek-V2/V3 HF directory -> llama.cpp GGUF arch `deepseek2`, as llama.cpp's
/// convert_hf_to_gguf.py DeepseekV2Model writes it: MLA stored as one shared KV head
/// (head_count_kv 1, key_length kv_lora_rank + qk_rope_head_dim, value_length kv_lora_rank,
/// key_length_mla / value_length_mla the per-head dims); kv_b_proj [H*(nope+v), L] split into
/// attn_k_b [H, L, nope] (k part transposed per head) and attn_v_b [H, v, L]; routed experts
/// stacked per layer as ffn_{gate,up,down}_exps [E, F, D] / [E, D, F]; the router
/// (ffn_gate_inp) kept F32 as llama.cpp does; e_score_correction_bias as exp_probs_b.bias.
/// No rope permutation: llama.cpp's NORM rope on adjacent pairs equals HF V3's de-interleave +
/// rotate_half. MTP layers (num_nextn_predict_layers) are skipped like llama.cpp's converter
/// (a line in `notes`). FP8 weights are dequantised with their block scales first.
/// Errors: config errors, moe_layer_freq > 1 with MoE layers interleaved (llama.cpp has only
/// leading dense layers), tensor errors, I/O failures.
Result<void> write_deepseek2_gguf(const io::HfModelDir& dir, const QuantOptions& q,
                                  const std::string& out_path, std::vector<std::string>* notes);

/// A tensor of a file being written, before its storage type is chosen.
struct PendingTensor {
  std::string name;
  Tensor t;
};

/// Sets general.file_type (the preset's LLAMA_FTYPE) and, for a quantized preset,
/// general.quantization_version 2.
void set_gguf_file_type(io::GgufWriter& w, const QuantOptions& q);

/// Adds `tensors` to `w`, each stored as choose_tensor_types decides (quantised at write time).
/// Errors: those of choose_tensor_types and GgufWriter::add_tensor.
Result<void> add_tensors_as_chosen(io::GgufWriter& w, const std::vector<PendingTensor>& tensors,
                                   const QuantModelShape& shape, const QuantOptions& q);

/// tokenizer.json (byte-level BPE) in `dir` -> llama.cpp's gpt2 vocabulary keys (tokens padded
/// to `vocab_size` with "[PADi]", token types, merges, pre-tokenizer name `pre`, add_bos from
/// tokenizer_config.json else `default_add_bos`, chat template). Returns false (writes nothing)
/// when there is no BPE tokenizer.json. Errors: unreadable JSON, an added_tokens entry whose id,
/// content or special has the wrong JSON type.
Result<bool> add_gguf_tokenizer(io::GgufWriter& w, const std::string& dir, int64_t vocab_size,
                                const std::string& pre, bool default_add_bos);

}  // namespace r1::models
