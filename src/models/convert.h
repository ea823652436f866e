// `r1 convert`: an HF checkpoint to a GGUF file that llama.cpp and r1 both load (llama.cpp's
// tensor names and metadata keys; Q/K rows permuted for `llama` as llama.cpp's converter does).
#pragma once
#include <string>

#include "core/dtype.h"
#include "core/result.h"
#include "io/hf_model.h"
#include "models/decoder_config.h"

namespace r1::models {

/// Converts the HF directory `model_dir` to `out_path` with 2-d weights stored as `type` (F32,
/// F16, BF16, Q8_0, Q4_0; matrices whose rows are not whole 32-blocks fall back to F16) and every
/// 1-d tensor (norms, biases) as F32. Picks the architecture from config.json model_type
/// (defined in registry.cpp). Errors: unsupported architecture/type, config or tensor errors,
/// I/O failures (one line each).
Result<void> convert_to_gguf(const std::string& model_dir, const std::string& out_path, DType type);

/// The decoder-family writer behind convert_to_gguf. `permute_qk`: reorder each q/k head's rows
/// from HF's rotate-half pairing (i, i + Hd/2) to adjacent pairs (2i, 2i + 1), as llama.cpp's
/// convert_hf_to_gguf.py `LlamaModel.permute` does (its `llama` arch uses NORM rope).
/// Writes llama3 rope scaling as the rope_freqs.weight divisors llama.cpp expects, and the
/// tokenizer (tokenizer.ggml.model gpt2, tokens, token_type, merges) when tokenizer.json is a BPE
/// model, else tokenizer.ggml.model "no_vocab".
Result<void> write_decoder_gguf(const io::HfModelDir& dir, const DecoderConfig& cfg,
                                bool permute_qk, DType type, const std::string& out_path);

}  // namespace r1::models
