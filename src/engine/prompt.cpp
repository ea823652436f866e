// Prompt tokenization shared by the subcommands.
#include "engine/prompt.h"

namespace r1::engine {

std::vector<int32_t> raw_prompt_ids(const tok::Tokenizer& tok, std::string_view text, bool allow_bos) {
  const bool bos = allow_bos && tok.bos_id() >= 0 && tok.add_bos_default();
  return tok.encode(text, bos, /*parse_special=*/true);
}

Result<std::vector<int32_t>> prompt_ids(const tok::Tokenizer& tok, std::string_view text, bool chat,
                                        bool allow_bos) {
  if (!chat) return raw_prompt_ids(tok, text, allow_bos);
  return make_error("--chat: chat templates are not available yet (the tokenizer's chat template "
                    "support has not landed)");
}

}  // namespace r1::engine
