// Prompt tokenization shared by the subcommands.
#include "engine/prompt.h"

#include <filesystem>

#include "io/gguf.h"

namespace r1::engine {

std::vector<int32_t> raw_prompt_ids(const tok::Tokenizer& tok, std::string_view text, bool allow_bos) {
  const bool bos = allow_bos && tok.bos_id() >= 0 && tok.add_bos_default();
  return tok.encode(text, bos, /*parse_special=*/true);
}

Result<tok::ChatTemplate> load_chat_template(const std::string& model_path, const tok::Tokenizer& tok) {
  std::error_code ec;
  if (std::filesystem::is_directory(model_path, ec)) return tok::ChatTemplate::from_path(model_path);
  R1_ASSIGN_OR_RETURN(gguf, io::GgufFile::open(model_path));
  if (!gguf.has("tokenizer.chat_template"))
    return make_error("{}: the model has no chat template (GGUF key tokenizer.chat_template)",
                      model_path);
  R1_ASSIGN_OR_RETURN(src, gguf.get_string("tokenizer.chat_template"));
  tok::Specials sp;
  if (tok.bos_id() >= 0) sp.bos_token = tok.token_text(tok.bos_id());
  if (tok.eos_id() >= 0) sp.eos_token = tok.token_text(tok.eos_id());
  auto t = tok::ChatTemplate::from_string(src, sp);
  if (!t.ok()) return make_error("{}: tokenizer.chat_template: {}", model_path, t.message());
  return t;
}

Result<std::vector<int32_t>> chat_prompt_ids(const tok::Tokenizer& tok, const tok::ChatTemplate& tmpl,
                                             const nlohmann::ordered_json& messages, bool allow_bos,
                                             std::string* rendered) {
  R1_ASSIGN_OR_RETURN(text, tmpl.render(messages, /*add_generation_prompt=*/true));
  const bool bos = allow_bos && tok.bos_id() >= 0 &&
                   tok::needs_bos(text, tmpl.specials().bos_token, tok.add_bos_default());
  auto ids = tok.encode(text, bos, /*parse_special=*/true);
  if (rendered) *rendered = std::move(text);
  return ids;
}

}  // namespace r1::engine
