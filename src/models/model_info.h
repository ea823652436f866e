// ModelInfo facts that come from files around the weights: display name, EOS/BOS ids
// (config.json, generation_config.json, GGUF tokenizer.ggml.*), and whether the checkpoint is an
// R1-family model (which changes the engine's sampling defaults).
#pragma once
#include <string>
#include <string_view>

#include "core/result.h"
#include "io/gguf.h"
#include "io/hf_model.h"
#include "models/model.h"

namespace r1::models {

/// True when `name` contains "r1" as a separate word, case-insensitive ("DeepSeek-R1-Distill-
/// Qwen-1.5B", "r1-distill-qwen-1.5b", "my_R1"), or `chat_template` contains both DeepSeek-R1's
/// assistant marker "<｜Assistant｜>" and "<think>". Nothing else is guessed.
bool looks_like_r1(std::string_view name, std::string_view chat_template);

/// Info of an HF directory: name = folder name; eos ids = config.json eos_token_id plus
/// generation_config.json eos_token_id (deduplicated); bos from config / generation_config;
/// is_r1 from the folder name, config `_name_or_path`, or tokenizer_config.json chat_template.
/// vocab/params/bytes are filled by the model. Errors: malformed eos/bos fields.
Result<ModelInfo> hf_model_info(const io::HfModelDir& dir, const std::string& arch);

/// Info of a GGUF file: name = general.name or the file stem; eos/bos from
/// tokenizer.ggml.eos_token_id / bos_token_id; is_r1 from the names or tokenizer.chat_template.
Result<ModelInfo> gguf_model_info(const io::GgufFile& file, const std::string& arch);

}  // namespace r1::models
