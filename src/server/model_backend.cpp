// Backend over models::CausalLM + tok::Tokenizer (see model_backend.h).
#include "server/model_backend.h"

#include <algorithm>

#include <fmt/format.h>

#include "engine/prompt.h"
#include "engine/thinking_budget.h"

namespace r1::server {
ModelBackend::ModelBackend(models::CausalLM& model, const tok::Tokenizer& tok,
                           std::optional<tok::ChatTemplate> tmpl, std::vector<int32_t> eos_ids,
                           engine::SamplerOptions sampling, Options opts)
    : model_(model), tok_(tok), tmpl_(std::move(tmpl)), eos_ids_(std::move(eos_ids)),
      think_end_(engine::think_end_ids(tok)), sampling_(sampling), opts_(std::move(opts)) {
  const int64_t model_ctx = model_.info().max_position_embeddings;
  if (opts_.n_ctx <= 0 || (model_ctx > 0 && opts_.n_ctx > model_ctx)) opts_.n_ctx = model_ctx;
  if (opts_.model_id.empty()) opts_.model_id = model_.info().name;
}

Result<std::unique_ptr<ModelBackend>> ModelBackend::create(
    models::CausalLM& model, const tok::Tokenizer& tokenizer, std::optional<tok::ChatTemplate> tmpl,
    std::vector<int32_t> eos_ids, engine::SamplerOptions sampling, Options opts) {
  const int64_t v = model.info().vocab_size;
  if (tokenizer.vocab_size() > v) {
    return make_error("the tokenizer has {} ids but the model's vocabulary only {}; they do "
                      "not belong together",
                      tokenizer.vocab_size(), v);
  }
  if (opts.n_ctx <= 0 && model.info().max_position_embeddings <= 0) {
    return make_error("the model does not state its context length; pass --ctx-size");
  }
  return std::unique_ptr<ModelBackend>(new ModelBackend(model, tokenizer, std::move(tmpl),
                                                        std::move(eos_ids), sampling,
                                                        std::move(opts)));
}

SamplingParams ModelBackend::default_sampling() const {
  SamplingParams p;
  p.temperature = sampling_.temperature;
  p.top_p = sampling_.top_p;
  p.seed = sampling_.seed;
  p.frequency_penalty = sampling_.frequency_penalty;
  p.presence_penalty = sampling_.presence_penalty;
  return p;
}

ApiResult<std::string> ModelBackend::render_chat(const std::vector<ChatMessage>& messages,
                                                const nlohmann::ordered_json& kwargs) const {
  if (!tmpl_) {
    ApiError e;
    e.param = "messages";
    e.code = "no_chat_template";
    e.message = "this model has no chat template (start the server with --chat-template FILE, or "
                "use /v1/completions with a raw prompt)";
    return e;
  }
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  const ToolFormat format = tool_format();
  for (const auto& m : messages) {
    // Templates predate the "developer" role; it is OpenAI's new name for "system".
    nlohmann::ordered_json j = {{"role", m.role == "developer" ? "system" : m.role}, {"content", m.content}};
    if (!m.tool_calls.empty()) {
      // DeepSeek's templates test `content is none` to print the calls, and concatenate the
      // arguments as text; Qwen's print them with tojson, so they must be an object there.
      if (m.content_null) j["content"] = nullptr;
      nlohmann::ordered_json calls = nlohmann::ordered_json::array();
      for (const auto& c : m.tool_calls) {
        nlohmann::ordered_json args = c.arguments;
        if (format == ToolFormat::Qwen) args = nlohmann::ordered_json::parse(c.arguments, nullptr, false);
        calls.push_back({{"id", c.id}, {"type", "function"}, {"function", {{"name", c.name}, {"arguments", args}}}});
      }
      j["tool_calls"] = std::move(calls);
    }
    if (m.role == "tool") {
      j["tool_call_id"] = m.tool_call_id;
      if (!m.name.empty()) j["name"] = m.name;
    }
    msgs.push_back(std::move(j));
  }
  auto text = tmpl_->render(msgs, /*add_generation_prompt=*/true, kwargs);
  if (!text.ok()) {
    ApiError e;
    e.param = "messages";
    e.code = "chat_template_error";
    e.message = "the chat template rejected the messages: " + text.message();
    return e;
  }
  return std::move(text).value();
}

ToolFormat ModelBackend::tool_format() const {
  return tmpl_ ? detect_tool_format(tmpl_->source()) : ToolFormat::None;
}

std::vector<int32_t> ModelBackend::tokenize(std::string_view text, bool raw_prompt) const {
  if (raw_prompt) return engine::raw_prompt_ids(tok_, text, /*allow_bos=*/true);
  const std::string s(text);
  const bool bos = tmpl_ && tok::needs_bos(s, tmpl_->specials().bos_token, tok_.add_bos_default());
  return tok_.encode(text, bos && tok_.bos_id() >= 0, /*parse_special=*/true);
}

}  // namespace r1::server
