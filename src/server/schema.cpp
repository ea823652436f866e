// OpenAI request validation and response JSON (see schema.h).
#include "server/schema.h"

#include <algorithm>
#include <cctype>
#include <cmath>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "grammar/json_schema.h"

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

// OpenAI fields this server would not honour: a 400 rather than silently different output.
std::optional<ApiError> unsupported(const json& j, bool chat) {
  auto refuse = [](const char* key, std::string why) {
    return bad(key, fmt::format("'{}' is not supported by this server: {}", key, why), "unsupported_parameter");
  };
  if (const json* v = field(j, "functions"); v && !(v->is_array() && v->empty())) {
    return refuse("functions", "the legacy 'functions' API is not implemented; use 'tools'");
  }
  if (const json* v = field(j, "function_call"); v && !(v->is_string() && v->get<std::string>() == "none")) {
    return refuse("function_call", "the legacy 'function_call' is not implemented; use 'tool_choice'");
  }
  if (!chat) {
    for (const char* key : {"tools", "tool_choice"}) {
      if (field(j, key)) return refuse(key, "tools are a chat parameter");
    }
  }
  if (const json* v = field(j, "logit_bias"); v && !(v->is_object() && v->empty())) {
    return refuse("logit_bias", "logit biases are not applied");
  }
  for (const char* key : {"prediction", "audio", "web_search_options"}) {
    if (field(j, key)) return refuse(key, "this server generates text only, without predicted outputs or tools");
  }
  if (const json* v = field(j, "modalities")) {
    if (!(v->is_array() && v->size() == 1 && (*v)[0] == "text")) return refuse("modalities", "only [\"text\"]");
  }
  if (!chat) {
    if (const json* v = field(j, "echo"); v && !(v->is_boolean() && !v->get<bool>())) {
      return refuse("echo", "the prompt is not echoed back");
    }
    if (const json* v = field(j, "suffix"); v && !(v->is_string() && v->get<std::string>().empty())) {
      return refuse("suffix", "insertion (fill in the middle) is not implemented");
    }
    if (const json* v = field(j, "best_of")) {
      auto b = as_integer(*v);
      auto n_field = field(j, "n");
      const int64_t n = n_field ? as_integer(*n_field).value_or(1) : 1;
      if (!b || (*b != 1 && *b != n)) return refuse("best_of", "only best_of = 1 or = n (no server-side ranking)");
    }
  }
  return std::nullopt;
}

// Structured output: llama-server's `grammar` (GBNF) or OpenAI's response_format, compiled and
// parsed here so that a bad schema or grammar is a 400 before anything is queued.
std::optional<ApiError> parse_structured(const json& j, std::string_view body, GenerationRequest& r) {
  const json* g = field(j, "grammar");
  const json* rf = field(j, "response_format");
  std::string text, param;
  if (rf) {
    const json* type = rf->is_object() ? field(*rf, "type") : nullptr;
    if (!type || !type->is_string()) return bad("response_format.type", "'response_format' must be an object with a string 'type'", "invalid_type");
    const std::string t = type->get<std::string>();
    if (t == "json_object") {
      text = grammar::json_object_gbnf();
    } else if (t == "json_schema") {
      const json* js = field(*rf, "json_schema");
      if (!js || !js->is_object()) return bad("response_format.json_schema", "'response_format.json_schema' must be an object with a 'schema'", "invalid_type");
      if (const json* strict = field(*js, "strict"); strict && !strict->is_boolean()) return wrong_type("response_format.json_schema.strict", "a boolean", *strict);
      const json* schema = field(*js, "schema");
      if (!schema) {
        text = grammar::json_object_gbnf();  // no schema: any JSON object, as OpenAI does
      } else {
        grammar::SchemaErrorKind kind = grammar::SchemaErrorKind::Malformed;
        // Re-read in document order: properties are generated in the order the schema lists them.
        const auto ordered = nlohmann::ordered_json::parse(body)["response_format"]["json_schema"]["schema"];
        auto compiled = grammar::json_schema_to_gbnf(ordered, &kind);
        if (!compiled.ok()) {
          return bad("response_format.json_schema.schema", compiled.message(),
                     kind == grammar::SchemaErrorKind::Unsupported ? "unsupported_json_schema" : "invalid_json_schema");
        }
        text = std::move(compiled.value());
      }
    } else if (t != "text") {
      return bad("response_format.type", fmt::format("'response_format.type' must be one of text, json_object, json_schema; got '{}'", t), "invalid_value");
    }
    param = "response_format";
  }
  if (g) {
    if (!g->is_string()) return wrong_type("grammar", "a string (GBNF)", *g);
    if (!text.empty()) return bad("grammar", "give either 'grammar' or a JSON 'response_format', not both", "invalid_value");
    text = g->get<std::string>();
    param = "grammar";
    if (text.empty()) return std::nullopt;
  }
  if (text.empty()) return std::nullopt;
  auto parsed = grammar::parse_gbnf(text);
  if (!parsed.ok()) return bad(param, parsed.message(), "invalid_grammar");
  r.grammar_text = std::move(text);
  r.grammar = std::move(parsed.value());
  return std::nullopt;
}

// Parses the fields chat and completions share: model, max_tokens, sampling, stop, n, stream.
std::optional<ApiError> parse_common(const json& j, std::string_view body, GenerationRequest& r) {
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
  if (const json* v = field(j, "top_k")) {
    auto k = as_integer(*v);
    if (!k) return wrong_type("top_k", "an integer", *v);
    if (*k < -1 || *k > INT32_MAX) return bad("top_k", fmt::format("'top_k' must be -1, 0 (both off) or a positive count, got {}", *k), "invalid_value");
    r.top_k = static_cast<int32_t>(std::max<int64_t>(*k, 0));
  }
  if (const json* v = field(j, "min_p")) {
    if (!v->is_number()) return wrong_type("min_p", "a number", *v);
    const double p = v->get<double>();
    if (!(p >= 0.0 && p <= 1.0)) return bad("min_p", fmt::format("'min_p' must be in [0, 1], got {}", p), "invalid_value");
    r.min_p = static_cast<float>(p);
  }
  for (const char* key : {"repetition_penalty", "repeat_penalty"}) {
    const json* v = field(j, key);
    if (!v) continue;
    if (!v->is_number()) return wrong_type(key, "a number", *v);
    const double p = v->get<double>();
    if (!(p > 0.0 && p <= 10.0)) return bad(key, fmt::format("'{}' must be in (0, 10], got {}", key, p), "invalid_value");
    if (r.repetition_penalty) return bad(key, "give either 'repetition_penalty' or 'repeat_penalty', not both", "invalid_value");
    r.repetition_penalty = static_cast<float>(p);
  }
  for (const char* key : {"frequency_penalty", "presence_penalty"}) {
    const json* v = field(j, key);
    if (!v) continue;
    if (!v->is_number()) return wrong_type(key, "a number", *v);
    double x = v->get<double>();
    if (!(x >= -2.0 && x <= 2.0)) return bad(key, fmt::format("'{}' must be in [-2, 2], got {}", key, x), "invalid_value");
    (std::string_view(key) == "frequency_penalty" ? r.frequency_penalty : r.presence_penalty) = static_cast<float>(x);
  }
  const bool chat = r.kind == GenerationRequest::Kind::Chat;
  if (const json* v = field(j, "logprobs")) {
    if (chat) {
      // Chat: a boolean, with the alternatives' count in top_logprobs.
      if (!v->is_boolean()) return wrong_type("logprobs", "a boolean", *v);
      r.logprobs = v->get<bool>();
    } else {
      // Legacy completions: the number of alternatives; 0 still returns the chosen tokens'.
      auto k = as_integer(*v);
      if (!k) return wrong_type("logprobs", "an integer", *v);
      if (*k < 0 || *k > kMaxTopLogprobs) return bad("logprobs", fmt::format("'logprobs' must be in [0, {}], got {}", kMaxTopLogprobs, *k), "invalid_value");
      r.logprobs = true;
      r.top_logprobs = static_cast<int>(*k);
    }
  }
  if (const json* v = field(j, "top_logprobs")) {
    auto k = as_integer(*v);
    if (!k) return wrong_type("top_logprobs", "an integer", *v);
    if (*k < 0 || *k > kMaxTopLogprobs) return bad("top_logprobs", fmt::format("'top_logprobs' must be in [0, {}], got {}", kMaxTopLogprobs, *k), "invalid_value");
    if (!chat) return bad("top_logprobs", "'top_logprobs' is a chat parameter; completions take the count in 'logprobs'", "unsupported_parameter");
    if (!r.logprobs) return bad("top_logprobs", "'logprobs' must be true when 'top_logprobs' is given", "invalid_value");
    r.top_logprobs = static_cast<int>(*k);
  }
  if (const json* v = field(j, "max_reasoning_tokens")) {
    auto n = as_integer(*v);
    if (!n) return wrong_type("max_reasoning_tokens", "an integer", *v);
    if (*n < 0) return bad("max_reasoning_tokens", fmt::format("'max_reasoning_tokens' must be at least 0, got {}", *n), "invalid_value");
    r.max_reasoning_tokens = *n;
  }
  if (const json* v = field(j, "reasoning_effort")) {
    if (!v->is_string()) return wrong_type("reasoning_effort", "a string", *v);
    if (r.max_reasoning_tokens) return bad("reasoning_effort", "give either 'reasoning_effort' or 'max_reasoning_tokens', not both", "invalid_value");
    const std::string effort = v->get<std::string>();
    std::string names;
    for (const auto& e : kReasoningEffortBudgets) {
      if (effort == e.effort) r.max_reasoning_tokens = e.budget_tokens;
      names += names.empty() ? e.effort : std::string(", ") + e.effort;
    }
    if (!r.max_reasoning_tokens) return bad("reasoning_effort", fmt::format("'reasoning_effort' must be one of {}; got '{}'", names, effort), "invalid_value");
  }
  if (auto e = parse_structured(j, body, r)) return e;
  return unsupported(j, chat);
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

// An assistant turn's tool_calls and a tool turn's tool_call_id / name.
std::optional<ApiError> parse_message_tools(const json& m, const std::string& p, ChatMessage& cm) {
  if (const json* calls = field(m, "tool_calls")) {
    if (cm.role != "assistant") return bad(p + ".tool_calls", fmt::format("'{}.tool_calls' is only allowed on assistant messages", p), "invalid_value");
    if (!calls->is_array()) return wrong_type(p + ".tool_calls", "an array", *calls);
    for (size_t k = 0; k < calls->size(); ++k) {
      const json& c = (*calls)[k];
      const std::string q = fmt::format("{}.tool_calls[{}]", p, k);
      if (!c.is_object()) return wrong_type(q, "an object", c);
      const json* fn = field(c, "function");
      if (!fn || !fn->is_object()) return bad(q + ".function", fmt::format("'{}.function' must be an object", q), "invalid_type");
      const json* name = field(*fn, "name");
      const json* args = field(*fn, "arguments");
      if (!name || !name->is_string()) return bad(q + ".function.name", fmt::format("'{}.function.name' must be a string", q), "invalid_type");
      if (!args || !args->is_string()) return bad(q + ".function.arguments", fmt::format("'{}.function.arguments' must be a string (JSON text)", q), "invalid_type");
      if (json::parse(args->get<std::string>(), nullptr, false).is_discarded()) {
        return bad(q + ".function.arguments", fmt::format("'{}.function.arguments' is not valid JSON", q), "invalid_value");
      }
      ToolCall tc;
      if (const json* id = field(c, "id"); id && id->is_string()) tc.id = id->get<std::string>();
      tc.name = name->get<std::string>();
      tc.arguments = args->get<std::string>();
      cm.tool_calls.push_back(std::move(tc));
    }
  }
  if (cm.role == "tool") {
    const json* id = field(m, "tool_call_id");
    if (!id || !id->is_string()) return bad(p + ".tool_call_id", fmt::format("'{}.tool_call_id' is required on tool messages", p), "missing_required_parameter");
    cm.tool_call_id = id->get<std::string>();
    if (const json* n = field(m, "name"); n && n->is_string()) cm.name = n->get<std::string>();
  }
  return std::nullopt;
}

bool valid_function_name(const std::string& n) {
  if (n.empty() || n.size() > 64) return false;
  for (const char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) return false;
  }
  return true;
}

// tools, tool_choice and parallel_tool_calls (OpenAI's chat API). The parameter schemas are
// re-read in document order (their properties are generated in that order).
std::optional<ApiError> parse_tools(const json& j, std::string_view body, GenerationRequest& r) {
  const json* tools = field(j, "tools");
  if (tools) {
    if (!tools->is_array()) return wrong_type("tools", "an array", *tools);
    const auto ordered = tools->empty() ? nlohmann::ordered_json() : nlohmann::ordered_json::parse(body)["tools"];
    for (size_t i = 0; i < tools->size(); ++i) {
      const json& t = (*tools)[i];
      const std::string p = fmt::format("tools[{}]", i);
      if (!t.is_object()) return wrong_type(p, "an object", t);
      const json* type = field(t, "type");
      if (!type || *type != "function") return bad(p + ".type", fmt::format("'{}.type' must be \"function\"", p), "invalid_value");
      const json* fn = field(t, "function");
      if (!fn || !fn->is_object()) return bad(p + ".function", fmt::format("'{}.function' must be an object", p), "invalid_type");
      const json* name = field(*fn, "name");
      if (!name || !name->is_string() || !valid_function_name(name->get<std::string>())) {
        return bad(p + ".function.name", fmt::format("'{}.function.name' must be 1 to 64 letters, digits, '_' or '-'", p), "invalid_value");
      }
      ToolSpec spec;
      spec.name = name->get<std::string>();
      for (const auto& other : r.tools) {
        if (other.name == spec.name) return bad(p + ".function.name", fmt::format("two tools are named '{}'", spec.name), "invalid_value");
      }
      if (const json* d = field(*fn, "description")) {
        if (!d->is_string()) return wrong_type(p + ".function.description", "a string", *d);
        spec.description = d->get<std::string>();
      }
      if (const json* strict = field(*fn, "strict")) {
        if (!strict->is_boolean()) return wrong_type(p + ".function.strict", "a boolean", *strict);
        spec.strict = strict->get<bool>();
      }
      if (const json* params = field(*fn, "parameters")) {
        if (!params->is_object()) return wrong_type(p + ".function.parameters", "an object (a JSON schema)", *params);
        spec.parameters = ordered[i]["function"]["parameters"];
      }
      r.tools.push_back(std::move(spec));
    }
  }
  if (!r.tools.empty()) r.tool_choice = ToolChoice::Auto;
  if (const json* v = field(j, "tool_choice")) {
    if (v->is_string()) {
      const std::string c = v->get<std::string>();
      if (c == "none") {
        r.tool_choice = ToolChoice::None;
      } else if (c == "auto" || c == "required") {
        if (r.tools.empty()) return bad("tool_choice", fmt::format("'tool_choice' \"{}\" needs 'tools'", c), "invalid_value");
        r.tool_choice = c == "auto" ? ToolChoice::Auto : ToolChoice::Required;
      } else {
        return bad("tool_choice", fmt::format("'tool_choice' must be none, auto, required or a function; got '{}'", c), "invalid_value");
      }
    } else if (v->is_object()) {
      const json* fn = field(*v, "function");
      const json* name = fn && fn->is_object() ? field(*fn, "name") : nullptr;
      if (!name || !name->is_string()) return bad("tool_choice", "'tool_choice' must be {\"type\": \"function\", \"function\": {\"name\": ...}}", "invalid_type");
      const std::string n = name->get<std::string>();
      for (size_t i = 0; i < r.tools.size(); ++i) {
        if (r.tools[i].name == n) r.tool_choice_index = static_cast<int>(i);
      }
      if (r.tool_choice_index < 0) return bad("tool_choice", fmt::format("'tool_choice' names the function '{}', which is not in 'tools'", n), "invalid_value");
      r.tool_choice = ToolChoice::Named;
    } else {
      return wrong_type("tool_choice", "a string or an object", *v);
    }
  }
  if (const json* v = field(j, "parallel_tool_calls")) {
    if (!v->is_boolean()) return wrong_type("parallel_tool_calls", "a boolean", *v);
    r.parallel_tool_calls = v->get<bool>();
  }
  if (r.tool_choice == ToolChoice::Auto) {
    // OpenAI's strict promises arguments that match the schema; only a forced call is decoded
    // under the schema's grammar here, and "auto" leaves the model free.
    for (size_t i = 0; i < r.tools.size(); ++i) {
      if (r.tools[i].strict) {
        return bad(fmt::format("tools[{}].function.strict", i), "'strict' tools need tool_choice \"required\" or a named function (their arguments are then decoded under the schema); with \"auto\" they would not be enforced", "unsupported_parameter");
      }
    }
  }
  if ((r.tool_choice == ToolChoice::Required || r.tool_choice == ToolChoice::Named) && r.grammar) {
    return bad("tool_choice", "a forced tool call cannot be combined with 'response_format' or 'grammar'", "invalid_value");
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
  if (auto e = parse_common(j, body, r)) return *e;

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
    cm.content_null = content_it == m.end() || content_it->is_null();
    if (auto e = parse_message_tools(m, p, cm)) return *e;
    r.messages.push_back(std::move(cm));
  }
  if (auto e = parse_tools(j, body, r)) return *e;
  if (const json* v = field(j, "chat_template_kwargs")) {
    if (!v->is_object()) return wrong_type("chat_template_kwargs", "an object", *v);
    for (const auto& [key, value] : v->items()) {
      // These are the render call's own arguments, not template options.
      if (key == "messages" || key == "add_generation_prompt") {
        return bad("chat_template_kwargs." + key, fmt::format("'chat_template_kwargs' may not set '{}'", key), "invalid_value");
      }
      r.chat_template_kwargs[key] = nlohmann::ordered_json::parse(value.dump());
    }
  }
  return r;
}

ApiResult<GenerationRequest> parse_completion_request(std::string_view body) {
  auto parsed = parse_object(body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return *e;
  const json& j = std::get<json>(parsed);
  GenerationRequest r;
  r.kind = GenerationRequest::Kind::Completion;
  if (auto e = parse_common(j, body, r)) return *e;
  if (r.max_reasoning_tokens) {
    const char* key = field(j, "reasoning_effort") ? "reasoning_effort" : "max_reasoning_tokens";
    return bad(key, fmt::format("'{}' is a chat parameter: a raw completion has no reasoning block", key), "unsupported_parameter");
  }

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
    case FinishReason::ToolCalls: return "tool_calls";
    case FinishReason::None: break;
  }
  return "";
}

namespace {

// message.tool_calls, or delta.tool_calls (with each call's index) in a stream.
json tool_calls_json(const std::vector<ToolCall>& calls, bool with_index) {
  json a = json::array();
  for (size_t k = 0; k < calls.size(); ++k) {
    json c = {{"id", calls[k].id}, {"type", "function"},
              {"function", {{"name", calls[k].name}, {"arguments", calls[k].arguments}}}};
    if (with_index) c["index"] = k;
    a.push_back(std::move(c));
  }
  return a;
}

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

json bytes_json(const std::string& s) {
  json a = json::array();
  for (const unsigned char c : s) a.push_back(static_cast<int>(c));
  return a;
}

// JSON has no -inf: OpenAI writes -9999.0 for a token the model rules out.
double logprob_value(float lp) { return std::max(static_cast<double>(lp), -9999.0); }

json chat_logprobs_json(bool wanted, const std::vector<TokenLogprobs>& tokens) {
  if (!wanted) return nullptr;
  json content = json::array();
  for (const auto& t : tokens) {
    json top = json::array();
    for (const auto& [tok, lp] : t.top) {
      top.push_back({{"token", tok}, {"logprob", logprob_value(lp)}, {"bytes", bytes_json(tok)}});
    }
    content.push_back({{"token", t.token}, {"logprob", logprob_value(t.logprob)},
                       {"bytes", bytes_json(t.token)}, {"top_logprobs", top}});
  }
  return {{"content", content}, {"refusal", nullptr}};
}

json completion_logprobs_json(bool wanted, const std::vector<TokenLogprobs>& tokens) {
  if (!wanted) return nullptr;
  json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  for (const auto& t : tokens) {
    toks.push_back(t.token);
    lps.push_back(logprob_value(t.logprob));
    json top = json::object();
    for (const auto& [tok, lp] : t.top) {
      if (!top.contains(tok)) top[tok] = logprob_value(lp);  // two ids with one text: the likelier
    }
    tops.push_back(top);
    offs.push_back(t.text_offset);
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

}  // namespace

std::string chat_response_json(const ResponseMeta& meta, const std::vector<Choice>& choices,
                               const Usage& usage) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    json msg = {{"role", "assistant"}, {"content", choices[i].content}};
    if (!choices[i].reasoning_content.empty()) msg["reasoning_content"] = choices[i].reasoning_content;
    if (!choices[i].tool_calls.empty()) {
      if (choices[i].content.empty()) msg["content"] = nullptr;
      msg["tool_calls"] = tool_calls_json(choices[i].tool_calls, false);
    }
    cs.push_back({{"index", i}, {"message", msg},
                  {"logprobs", chat_logprobs_json(choices[i].logprobs, choices[i].token_logprobs)},
                  {"finish_reason", finish_json(choices[i].finish)}});
  }
  return dump({{"id", meta.id}, {"object", "chat.completion"}, {"created", meta.created},
               {"model", meta.model}, {"choices", cs}, {"usage", usage_json(usage)}});
}

std::string completion_response_json(const ResponseMeta& meta, const std::vector<Choice>& choices,
                                     const Usage& usage) {
  json cs = json::array();
  for (size_t i = 0; i < choices.size(); ++i) {
    cs.push_back({{"index", i}, {"text", choices[i].content},
                  {"logprobs", completion_logprobs_json(choices[i].logprobs, choices[i].token_logprobs)},
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
  if (!d.tool_calls.empty()) delta["tool_calls"] = tool_calls_json(d.tool_calls, true);
  json j = {{"id", meta.id}, {"object", "chat.completion.chunk"}, {"created", meta.created},
            {"model", meta.model},
            {"choices", json::array({{{"index", d.index}, {"delta", delta},
                                      {"logprobs", chat_logprobs_json(d.logprobs, d.token_logprobs)},
                                      {"finish_reason", finish_json(d.finish)}}})}};
  if (include_usage) j["usage"] = nullptr;
  return sse(j);
}

std::string completion_chunk_sse(const ResponseMeta& meta, const ChunkDelta& d,
                                 bool include_usage) {
  json j = {{"id", meta.id}, {"object", "text_completion"}, {"created", meta.created},
            {"model", meta.model},
            {"choices", json::array({{{"index", d.index}, {"text", d.content},
                                      {"logprobs", completion_logprobs_json(d.logprobs, d.token_logprobs)},
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
