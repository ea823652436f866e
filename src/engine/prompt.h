// Turning user text into prompt ids the same way everywhere (run, chat, server, GRPO): raw text
// with the tokenizer's BOS convention, or a conversation through the model's chat template.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::engine {

/// Ids of a raw prompt: BOS first when `allow_bos`, the tokenizer has one and its convention
/// (add_bos_default: tokenizer_config add_bos_token / GGUF add_bos_token) asks for it; special
/// token strings in the text become their ids (as llama.cpp does for prompts). Never fails.
std::vector<int32_t> raw_prompt_ids(const tok::Tokenizer& tok, std::string_view text, bool allow_bos);

/// The chat template of a model: an HF directory's tokenizer_config.json / chat_template.jinja, or
/// a GGUF file's `tokenizer.chat_template` (its specials then come from the tokenizer's BOS/EOS
/// token strings). Errors: the model has no chat template, or it does not parse.
Result<tok::ChatTemplate> load_chat_template(const std::string& model_path, const tok::Tokenizer& tok);

/// Renders `messages` ([{role, content}...]) with the generation prompt and tokenizes the result
/// with special tokens parsed and BOS exactly once (tok::needs_bos; never when !allow_bos).
/// `rendered` (optional) receives the text. Errors: the template's render error.
Result<std::vector<int32_t>> chat_prompt_ids(const tok::Tokenizer& tok, const tok::ChatTemplate& tmpl,
                                             const nlohmann::ordered_json& messages, bool allow_bos,
                                             std::string* rendered = nullptr);

}  // namespace r1::engine
