// Turning user text into prompt ids the same way everywhere (run, chat, server, GRPO): raw text
// with the tokenizer's BOS convention, or a conversation through the model's chat template.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "tokenizer/tokenizer.h"

namespace r1::engine {

/// Ids of a raw prompt: BOS first when `allow_bos`, the tokenizer has one and its convention
/// (add_bos_default: tokenizer_config add_bos_token / GGUF add_bos_token) asks for it; special
/// token strings in the text become their ids (as llama.cpp does for prompts). Never fails.
std::vector<int32_t> raw_prompt_ids(const tok::Tokenizer& tok, std::string_view text, bool allow_bos);

/// raw_prompt_ids, or with `chat` the text as one user message rendered by the model's chat
/// template with the generation prompt. Errors: the model has no chat template, or it fails to
/// render (the template's message).
Result<std::vector<int32_t>> prompt_ids(const tok::Tokenizer& tok, std::string_view text, bool chat,
                                        bool allow_bos);

}  // namespace r1::engine
