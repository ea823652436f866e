// OpenAI request validation and response JSON (see schema.h).
#include "server/schema.h"

#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace r1::server {
namespace {

using nlohmann::json;

ApiError bad(std::string param, std::string message, std::string code = "") {
  ApiError e;
  e.status = 400;
  e.param = std::move(param);
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

const char* type_name(const json& v) {
  switch (v.type()) {
    case json::value_t::null: return "null";
    case json::value_t::boolean: return "a boolean";
    case json::value_t::string: return "a string";
    case json::value_t::array: return "an array";
    case json::value_t::object: return "an object";
    case json::value_t::number_float: return "a number";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned: return "an integer";
    default: return "an unknown type";
  }
}

ApiError wrong_type(const std::string& param, const char* want, const json& v) {
  return bad(param, fmt::format("'{}' must be {}, got {}", param, want, type_name(v)),
             "invalid_type");
}

// Parses the body into an object; a non-object or invalid JSON is a 400.
ApiResult<json> parse_object(std::string_view body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return bad("", "request body is not valid JSON (expected a JSON object)", "invalid_json");
  }
  if (!j.is_object()) return bad("", fmt::format("request body must be a JSON object, got {}", type_name(j)), "invalid_json");
  return j;
}

// Field accessors: absent or null -> nullopt (no error); wrong type -> error.
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

// A JSON number that is integral: 3 and 3.0 both count (some clients serialise floats).
std::optional<int64_t> as_integer(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e15) return static_cast<int64_t>(d);
  }
  return std::nullopt;
}

// Parses the fields chat and completions share: model, max_tokens, sampling, stop, n, stream.
std::optional<ApiError> parse_common(const json& j, GenerationRequest& r) {
  if (const json* v = field(j, "model")) {
    if (!v->is_string()) return wrong_type("model", "a string", *v);
    r.model = v->get<std::string>();
  }
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    const json* v = field(j, key);
    if (!v) continue;
    auto n = as_integer(*v);
    if (!n) return wrong_type(key, "an integer", *v);
    if (*n < 1) return bad(key, fmt::format("'{}' must be at least 1, got {}", key, *n), "invalid_value");
    if (!r.max_tokens) r.max_tokens = *n;  // max_completion_tokens wins when both are given
  }
  if (const json* v = field(j, "temperature")) {
    if (!v->is_number()) return wrong_type("temperature", "a number", *v);
    double t = v->get<double>();
    if (!(t >= 0.0 && t <= 2.0)) return bad("temperature", fmt::format("'temperature' must be in [0, 2], got {}", t), "invalid_value");
    r.temperature = static_cast<float>(t);
  }
  if (const json* v = field(j, "top_p")) {
    if (!v->is_number()) return wrong_type("top_p", "a number", *v);
    double p = v->get<double>();
    if (!(p > 0.0 && p <= 1.0)) return bad("top_p", fmt::format("'top_p' must be in (0, 1], got {}", p), "invalid_value");
    r.top_p = static_cast<float>(p);
  }
  if (const json* v = field(j, "seed")) {
    auto s = as_integer(*v);
    if (!s) return wrong_type("seed", "an integer", *v);
    r.seed = static_cast<uint64_t>(*s);
  }
  if (const json* v = field(j, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > static_cast<size_t>(kMaxStop)) return bad("stop", fmt::format("'stop' holds at most {} strings, got {}", kMaxStop, v->size()), "invalid_value");
      for (size_t i = 0; i < v->size(); ++i) {
        if (!(*v)[i].is_string()) return wrong_type(fmt::format("stop[{}]", i), "a string", (*v)[i]);
        r.stop.push_back((*v)[i].get<std::string>());
      }
    } else {
      return wrong_type("stop", "a string or an array of strings", *v);
    }
    for (const auto& s : r.stop) {
      if (s.empty()) return bad("stop", "'stop' strings must not be empty", "invalid_value");
    }
  }
  if (const json* v = field(j, "n")) {
    auto n = as_integer(*v);
    if (!n) return wrong_type("n", "an integer", *v);
    if (*n < 1 || *n > kMaxChoices) return bad("n", fmt::format("'n' must be in [1, {}], got {}", kMaxChoices, *n), "invalid_value");
    r.n = static_cast<int>(*n);
  }
  if (const json* v = field(j, "stream")) {
    if (!v->is_boolean()) return wrong_type("stream", "a boolean", *v);
    r.stream = v->get<bool>();
  }
  if (const json* v = field(j, "stream_options")) {
    if (!v->is_object()) return wrong_type("stream_options", "an object", *v);
    if (!r.stream) return bad("stream_options", "'stream_options' is only allowed when 'stream' is true", "invalid_value");
    if (const json* u = field(*v, "include_usage")) {
      if (!u->is_boolean()) return wrong_type("stream_options.include_usage", "a boolean", *u);
      r.include_usage = u->get<bool>();
    }
  }
  for (const char* key : {"frequency_penalty", "presence_penalty"}) {
    const json* v = field(j, key);
    if (!v) continue;
    if (!v->is_number()) return wrong_type(key, "a number", *v);
    double x = v->get<double>();
    if (!(x >= -2.0 && x <= 2.0)) return bad(key, fmt::format("'{}' must be in [-2, 2], got {}", key, x), "invalid_value");
  }
  if (const json* v = field(j, "logprobs")) {
    // Chat sends a boolean, completions an integer; either way we do not return log-probs yet.
    bool wants = v->is_boolean() ? v->get<bool>() : (as_integer(*v).value_or(0) > 0);
    if (!v->is_boolean() && !as_integer(*v)) return wrong_type("logprobs", "a boolean or an integer", *v);
    if (wants) return bad("logprobs", "'logprobs' is not supported by this server", "unsupported_parameter");
  }
  return std::nullopt;
}

// Message content: a string, null (assistant turns with tool calls) or an array of parts of which
// the "text" ones are concatenated.
std::optional<ApiError> parse_content(const json& v, const std::string& param, std::string& out) {
  if (v.is_null()) return std::nullopt;
  if (v.is_string()) {
    out = v.get<std::string>();
    return std::nullopt;
  }
  if (!v.is_array()) return wrong_type(param, "a string or an array of content parts", v);
  for (size_t i = 0; i < v.size(); ++i) {
    const json& part = v[i];
    std::string p = fmt::format("{}[{}]", param, i);
    if (!part.is_object()) return wrong_type(p, "an object", part);
    const json* type = field(part, "type");
    if (!type || !type->is_string()) return bad(p + ".type", fmt::format("'{}.type' must be a string", p), "invalid_type");
    if (type->get<std::string>() != "text") return bad(p + ".type", fmt::format("content part type '{}' is not supported (only 'text')", type->get<std::string>()), "unsupported_content");
    const json* text = field(part, "text");
    if (!text || !text->is_string()) return bad(p + ".text", fmt::format("'{}.text' must be a string", p), "invalid_type");
    out += text->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

ApiResult<GenerationRequest> parse_chat_request(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& j = std::get<json>(parsed);
  GenerationRequest r;
  r.kind = GenerationRequest::Kind::Chat;
  if (auto e = parse_common(j, r)) return *e;

  const json* msgs = field(j, "messages");
  if (!msgs) return bad("messages", "'messages' is required", "missing_required_parameter");
  if (!msgs->is_array()) return wrong_type("messages", "an array", *msgs);
  if (msgs->empty()) return bad("messages", "'messages' must contain at least one message", "empty_array");
  for (size_t i = 0; i < msgs->size(); ++i) {
    const json& m = (*msgs)[i];
    std::string p = fmt::format("messages[{}]", i);
    if (!m.is_object()) return wrong_type(p, "an object", m);
    ChatMessage cm;
    const json* role = field(m, "role");
    if (!role) return bad(p + ".role", fmt::format("'{}.role' is required", p), "missing_required_parameter");
    if (!role->is_string()) return wrong_type(p + ".role", "a string", *role);
    cm.role = role->get<std::string>();
    if (cm.role != "system" && cm.role != "developer" && cm.role != "user" &&
        cm.role != "assistant" && cm.role != "tool") {
      return bad(p + ".role", fmt::format("'{}.role' must be one of system, developer, user, assistant, tool; got '{}'", p, cm.role), "invalid_value");
    }
    auto content_it = m.find("content");
    if (content_it == m.end() && cm.role != "assistant") {
      return bad(p + ".content", fmt::format("'{}.content' is required", p), "missing_required_parameter");
    }
    if (content_it != m.end()) {
      if (auto e = parse_content(*content_it, p + ".content", cm.content)) return *e;
    }
    if (const json* rc = field(m, "reasoning_content")) {
      if (!rc->is_string()) return wrong_type(p + ".reasoning_content", "a string", *rc);
      cm.reasoning_content = rc->get<std::string>();
    }
    r.messages.push_back(std::move(cm));
  }
  return r;
}

ApiResult<GenerationRequest> parse_completion_request(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& j = std::get<json>(parsed);
  GenerationRequest r;
  r.kind = GenerationRequest::Kind::Completion;
  if (auto e = parse_common(j, r)) return *e;

  const json* p = field(j, "prompt");
  if (!p) return bad("prompt", "'prompt' is required", "missing_required_parameter");
  if (p->is_string()) {
    r.prompt = p->get<std::string>();
  } else if (p->is_array()) {
    if (p->empty()) return bad("prompt", "'prompt' must not be an empty array", "empty_array");
    if ((*p)[0].is_string()) {
      if (p->size() != 1) return bad("prompt", "only one prompt per request is supported; send the strings as separate requests", "unsupported_value");
      r.prompt = (*p)[0].get<std::string>();
    } else {
      r.prompt_is_tokens = true;
      for (size_t i = 0; i < p->size(); ++i) {
        auto id = as_integer((*p)[i]);
        if (!id) return wrong_type(fmt::format("prompt[{}]", i), "an integer token id", (*p)[i]);
        if (*id < 0 || *id > INT32_MAX) return bad(fmt::format("prompt[{}]", i), fmt::format("token id {} is out of range", *id), "invalid_value");
        r.prompt_tokens.push_back(static_cast<int32_t>(*id));
      }
    }
  } else {
    return wrong_type("prompt", "a string, an array of one string or an array of token ids", *p);
  }
  if (!r.prompt_is_tokens && r.prompt.empty()) return bad("prompt", "'prompt' must not be empty", "invalid_value");
  return r;
}

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::None: break;
  }
  return "";
}

namespace {

json finish_json(FinishReason r) {
  if (r == FinishReason::None) return nullptr;
  return finish_reason_name(r);
}

json usage_json(const Usage& u) {
  return json{{"prompt_tokens", u.prompt_tokens},
              {"completion_tokens", u.completion_tokens},
              {"total_tokens", u.prompt_tokens + u.completion_tokens},
              {"completion_tokens_details", {{"reasoning_tokens", u.reasoning_tokens}}}};
}

// dump with invalid UTF-8 replaced (a byte-level model can emit broken sequences).
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string sse(const json& j) { return "data: " + dump(j) + "\n\n"; }

}  // namespace

std::string chat_response_json(const ResponseMeta& meta, const std::vector<Choice>& choices,
                               const Usage& usage) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    json msg = {{"role", "assistant"}, {"content", choices[i].content}};
    if (!choices[i].reasoning_content.empty()) msg["reasoning_content"] = choices[i].reasoning_content;
    cs.push_back({{"index", i}, {"message", msg}, {"logprobs", nullptr},
                  {"finish_reason", finish_json(choices[i].finish)}});
  }
  return dump({{"id", meta.id}, {"object", "chat.completion"}, {"created", meta.created},
               {"model", meta.model}, {"choices", cs}, {"usage", usage_json(usage)}});
}

std::string completion_response_json(const ResponseMeta& meta, const std::vector<Choice>& choices,
                                     const Usage& usage) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    cs.push_back({{"index", i}, {"text", choices[i].content}, {"logprobs", nullptr},
                  {"finish_reason", finish_json(choices[i].finish)}});
  }
  return dump({{"id", meta.id}, {"object", "text_completion"}, {"created", meta.created},
               {"model", meta.model}, {"choices", cs}, {"usage", usage_json(usage)}});
}

std::string chat_chunk_sse(const ResponseMeta& meta, const ChunkDelta& d, bool include_usage) {
  json delta = json::object();
  if (d.role) delta["role"] = "assistant";
  if (!d.reasoning_content.empty()) delta["reasoning_content"] = d.reasoning_content;
  if (!d.content.empty()) delta["content"] = d.content;
  json j = {{"id", meta.id}, {"object", "chat.completion.chunk"}, {"created", meta.created},
            {"model", meta.model},
            {"choices", json::array({{{"index", d.index}, {"delta", delta}, {"logprobs", nullptr},
                                      {"finish_reason", finish_json(d.finish)}}})}};
  if (include_usage) j["usage"] = nullptr;
  return sse(j);
}

std::string completion_chunk_sse(const ResponseMeta& meta, const ChunkDelta& d,
                                 bool include_usage) {
  json j = {{"id", meta.id}, {"object", "text_completion"}, {"created", meta.created},
            {"model", meta.model},
            {"choices", json::array({{{"index", d.index}, {"text", d.content}, {"logprobs", nullptr},
                                      {"finish_reason", finish_json(d.finish)}}})}};
  if (include_usage) j["usage"] = nullptr;
  return sse(j);
}

std::string usage_chunk_sse(const ResponseMeta& meta, bool chat, const Usage& usage) {
  return sse({{"id", meta.id}, {"object", chat ? "chat.completion.chunk" : "text_completion"},
              {"created", meta.created}, {"model", meta.model}, {"choices", json::array()},
              {"usage", usage_json(usage)}});
}

std::string done_sse() { return "data: [DONE]\n\n"; }

namespace {
json error_object(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
}
}  // namespace

std::string error_sse(const ApiError& e) { return sse(error_object(e)); }

std::string error_json(const ApiError& e) { return dump(error_object(e)); }

std::string model_json(const std::string& model_id, int64_t created) {
  return dump({{"id", model_id}, {"object", "model"}, {"created", created}, {"owned_by", "r1.cpp"}});
}

std::string models_json(const std::string& model_id, int64_t created) {
  return dump({{"object", "list"},
               {"data", json::array({{{"id", model_id}, {"object", "model"}, {"created", created},
                                      {"owned_by", "r1.cpp"}}})}});
}

ApiError context_length_error(int64_t n_ctx, int64_t prompt_tokens, int64_t max_tokens) {
  ApiError e;
  e.status = 400;
  e.param = "messages";
  e.code = "context_length_exceeded";
  if (max_tokens > 0) {
    e.message = fmt::format(
        "This model's maximum context length is {} tokens. However, you requested {} tokens ({} "
        "in the prompt, {} for the completion). Please reduce the length of the prompt or the "
        "completion.",
        n_ctx, prompt_tokens + max_tokens, prompt_tokens, max_tokens);
  } else {
    e.message = fmt::format(
        "This model's maximum context length is {} tokens. However, your prompt is {} tokens, "
        "leaving no room for the completion. Please reduce the length of the prompt.",
        n_ctx, prompt_tokens);
  }
  return e;
}

}  // namespace r1::server
