// Chat templates: a model's own Jinja `chat_template` applied to a list of messages exactly as
// Hugging Face transformers' apply_chat_template renders it (see jinja.h for the interpreter).
#pragma once
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "jinja/jinja.h"

namespace r1::tok {

/// The special-token strings a template may print. An unset token is *undefined* in the template
/// (transformers only passes the tokens the tokenizer has; Qwen has no bos_token).
struct Specials {
  std::optional<std::string> bos_token, eos_token, pad_token, unk_token;
};

/// DeepSeek-V3/R1 specials: bos `<｜begin▁of▁sentence｜>`, eos and pad `<｜end▁of▁sentence｜>`.
Specials deepseek_specials();

/// A compiled chat template plus the special tokens it renders with. Cheap to copy, const methods
/// are thread-safe.
class ChatTemplate {
 public:
  /// Parses `src` (the Jinja text of `chat_template`). Errors: template syntax errors with line.
  static Result<ChatTemplate> from_string(const std::string& src, Specials specials = {});

  /// Loads a template from:
  ///  - a model directory: its tokenizer_config.json (`chat_template`), else chat_template.jinja;
  ///  - a tokenizer_config.json (or any .json): `chat_template` as a string, or a list of
  ///    {name, template} (the one named "default", else the first); bos/eos/pad/unk_token from it,
  ///    each a string or an AddedToken object {"content": ...};
  ///  - a GGUF file (magic "GGUF"): `tokenizer.chat_template`, specials by token id
  ///    (tokenizer.ggml.bos_token_id, ... into tokenizer.ggml.tokens), as llama.cpp does;
  ///  - any other file: the raw Jinja text. Its specials are guessed: the DeepSeek ones when the
  ///    text contains DeepSeek's full-width marker "｜" (how the shared sample cases were rendered),
  ///    otherwise none.
  /// Errors: unreadable file, bad JSON, no chat_template, template syntax errors.
  static Result<ChatTemplate> from_path(const std::string& path);

  /// Renders `messages` (a JSON array of {role, content, ...}) with context variables messages,
  /// add_generation_prompt, bos/eos/pad/unk_token (when set), tools (null when absent, as in
  /// transformers), documents (null), plus every key of `extra` (an object; e.g. enable_thinking,
  /// tools); keys of `extra` override the others. Errors: template runtime errors and
  /// raise_exception(msg), with the template line.
  Result<std::string> render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                             const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;
  Result<std::string> render(const nlohmann::json& messages, bool add_generation_prompt,
                             const nlohmann::json& extra = nlohmann::json::object()) const;

  /// transformers' continue_final_message: renders without a generation prompt, then cuts the text
  /// right after the final message's content, so the model continues that (assistant prefill) turn
  /// without the template's end-of-turn tokens. Errors: empty messages, or the final content (its
  /// last text block for list contents) does not appear in the rendered text (e.g. R1 templates
  /// drop `<think>...</think>` from assistant history), as transformers raises ValueError.
  Result<std::string> render_continue(const nlohmann::ordered_json& messages,
                                      const nlohmann::ordered_json& extra = nlohmann::ordered_json::object()) const;

  const Specials& specials() const { return specials_; }
  void set_specials(Specials s) { specials_ = std::move(s); }
  const std::string& source() const { return source_; }

 private:
  Result<std::string> render_impl(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                   const nlohmann::ordered_json& extra) const;
  jinja::Template tmpl_;
  Specials specials_;
  std::string source_;
};

/// "BOS exactly once": whether the engine should prepend the BOS token id when tokenizing a
/// rendered prompt. transformers tokenizes the output of apply_chat_template with
/// add_special_tokens=False because templates such as DeepSeek's print `bos_token` themselves; we
/// add BOS only when the tokenizer wants one (`add_bos_token`), the BOS string is known, and the
/// rendered text does not already start with it. A continued (prefill) prompt is rendered once, so
/// it never holds a second BOS in the middle.
bool needs_bos(const std::string& rendered, const std::optional<std::string>& bos_token, bool add_bos_token);

}  // namespace r1::tok
