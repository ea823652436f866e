// Tool-call formats: detection, prompts, forcing grammars and parsing (see tool_calls.h).
#include "server/tool_calls.h"

#include <fmt/format.h>

#include "grammar/json_schema.h"

namespace r1::server {
namespace {

// DeepSeek-V3/R1 markers (their tokenizer's added tokens; the chat templates print them).
constexpr std::string_view kDsCallsBegin = "<｜tool▁calls▁begin｜>";
constexpr std::string_view kDsCallsEnd = "<｜tool▁calls▁end｜>";
constexpr std::string_view kDsCallBegin = "<｜tool▁call▁begin｜>";
constexpr std::string_view kDsCallEnd = "<｜tool▁call▁end｜>";
constexpr std::string_view kDsSep = "<｜tool▁sep｜>";
// Qwen2.5/Qwen3 (their chat templates' system prompt and history).
constexpr std::string_view kQwenBegin = "<tool_call>";
constexpr std::string_view kQwenEnd = "</tool_call>";

std::string_view start_marker(ToolFormat f) { return f == ToolFormat::DeepSeek ? kDsCallsBegin : kQwenBegin; }

// A GBNF literal.
std::string lit(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// Normalises a call's arguments to compact JSON text of an object; empty when they are not one.
std::string arguments_text(const nlohmann::ordered_json& j) { return j.is_object() ? j.dump() : ""; }

}  // namespace

ToolFormat detect_tool_format(std::string_view src) {
  if (src.find("<tool_call>") != std::string_view::npos && src.find("tools") != std::string_view::npos) return ToolFormat::Qwen;
  if (src.find(kDsCallsBegin) != std::string_view::npos) return ToolFormat::DeepSeek;
  return ToolFormat::None;
}

std::string deepseek_tools_prompt(const std::vector<ToolSpec>& tools) {
  std::string s = "## Tools\nYou have access to the following tools:\n";
  for (const auto& t : tools) {
    s += fmt::format("\n### {}\nDescription: {}\n\nParameters: {}\n", t.name, t.description, t.parameters.dump());
  }
  s += "\nIMPORTANT: ALWAYS adhere to this exact format for tool use:\n";
  s += fmt::format("{}{}function{}tool_call_name\n```json\ntool_call_arguments\n```{}{}\n", kDsCallsBegin, kDsCallBegin, kDsSep, kDsCallEnd, kDsCallsEnd);
  s += "\nWhere:\n- `tool_call_name` must be an exact match to one of the available tools\n"
       "- `tool_call_arguments` must be valid JSON that strictly follows the tool's Parameters Schema\n"
       "- For multiple tool calls, chain them directly without separators or spaces";
  return s;
}

Result<std::string> tool_call_gbnf(ToolFormat format, const std::vector<ToolSpec>& tools, int only, bool parallel) {
  std::string rules, alts;
  for (size_t i = 0; i < tools.size(); ++i) {
    if (only >= 0 && static_cast<size_t>(only) != i) continue;
    const ToolSpec& t = tools[i];
    const std::string args = fmt::format("tool{}-args", i);
    grammar::SchemaErrorKind kind{};
    auto r = grammar::json_schema_rules(t.parameters.empty() ? nlohmann::ordered_json{{"type", "object"}} : t.parameters, args, &kind);
    if (!r.ok()) return make_error("tool '{}': {}", t.name, r.message());
    rules += r.value();
    std::string call;
    if (format == ToolFormat::DeepSeek) {
      call = fmt::format("{} {} {}", lit(std::string(kDsCallBegin) + "function" + std::string(kDsSep) + t.name + "\n```json\n"), args,
                         lit(std::string("\n```") + std::string(kDsCallEnd)));
    } else {
      call = fmt::format("{} {} {}", lit(std::string(kQwenBegin) + "\n{\"name\": " + nlohmann::json(t.name).dump() + ", \"arguments\": "), args,
                         lit("}\n" + std::string(kQwenEnd)));
    }
    alts += (alts.empty() ? "" : " | ") + call;
  }
  std::string root;
  if (format == ToolFormat::DeepSeek) {
    // The templates render the second and later calls after a newline.
    root = fmt::format("root ::= {} call{} {}\n", lit(kDsCallsBegin), parallel ? " (\"\\n\" call)*" : "", lit(kDsCallsEnd));
  } else {
    root = fmt::format("root ::= call{}\n", parallel ? " (\"\\n\" call)*" : "");
  }
  return root + "call ::= " + alts + "\n" + rules + grammar::json_primitives_gbnf();
}

ToolCallParser::ToolCallParser(ToolFormat format, std::string id_prefix)
    : format_(format), id_prefix_(std::move(id_prefix)) {}

std::string ToolCallParser::push(std::string_view text) {
  held_ += text;
  if (in_calls_) return "";
  const std::string_view marker = start_marker(format_);
  const size_t at = held_.find(marker);
  if (at != std::string::npos) {
    std::string out = held_.substr(0, at);
    held_.erase(0, at);
    in_calls_ = true;
    return out;
  }
  // Hold back a suffix that could begin the marker.
  size_t keep = 0;
  for (size_t n = std::min(held_.size(), marker.size() - 1); n > 0; --n) {
    if (held_.compare(held_.size() - n, n, marker.substr(0, n)) == 0) {
      keep = n;
      break;
    }
  }
  std::string out = held_.substr(0, held_.size() - keep);
  held_.erase(0, held_.size() - keep);
  return out;
}

ToolCallParser::Final ToolCallParser::finish() {
  Final f;
  if (!in_calls_) {
    f.content = std::move(held_);
    held_.clear();
    return f;
  }
  std::string_view s = held_;
  std::vector<ToolCall> calls;
  bool ok = true;
  auto next_id = [&] { return fmt::format("{}_{}", id_prefix_, calls.size()); };
  if (format_ == ToolFormat::DeepSeek) {
    s.remove_prefix(kDsCallsBegin.size());
    while (ok) {
      while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.remove_prefix(1);
      if (s.empty() || s.rfind(kDsCallsEnd, 0) == 0) break;
      if (s.rfind(kDsCallBegin, 0) != 0) {
        ok = false;
        break;
      }
      s.remove_prefix(kDsCallBegin.size());
      const size_t sep = s.find(kDsSep);
      const size_t end = s.find(kDsCallEnd);
      if (sep == std::string_view::npos || end == std::string_view::npos || sep > end) {
        ok = false;
        break;
      }
      std::string_view body = s.substr(sep + kDsSep.size(), end - sep - kDsSep.size());
      const size_t nl = body.find('\n');
      std::string name(body.substr(0, nl));
      std::string_view args = nl == std::string_view::npos ? std::string_view{} : body.substr(nl + 1);
      if (args.rfind("```json", 0) == 0) args.remove_prefix(7);
      const size_t fence = args.rfind("```");
      if (fence != std::string_view::npos) args = args.substr(0, fence);
      auto j = nlohmann::ordered_json::parse(args, nullptr, false);
      const std::string a = j.is_discarded() ? "" : arguments_text(j);
      if (name.empty() || a.empty()) {
        ok = false;
        break;
      }
      calls.push_back({next_id(), name, a});
      s.remove_prefix(end + kDsCallEnd.size());
    }
  } else {
    while (ok) {
      while (!s.empty() && (s.front() == '\n' || s.front() == ' ')) s.remove_prefix(1);
      if (s.empty()) break;
      if (s.rfind(kQwenBegin, 0) != 0) {
        ok = false;
        break;
      }
      const size_t end = s.find(kQwenEnd);
      if (end == std::string_view::npos) {
        ok = false;
        break;
      }
      auto j = nlohmann::ordered_json::parse(s.substr(kQwenBegin.size(), end - kQwenBegin.size()), nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string()) {
        ok = false;
        break;
      }
      const std::string a = arguments_text(j.value("arguments", nlohmann::ordered_json::object()));
      if (a.empty()) {
        ok = false;
        break;
      }
      calls.push_back({next_id(), j["name"].get<std::string>(), a});
      s.remove_prefix(end + kQwenEnd.size());
    }
  }
  if (ok && !calls.empty()) {
    f.calls = std::move(calls);
  } else {
    f.content = std::move(held_);
  }
  held_.clear();
  return f;
}

ToolCallParser::Final ToolCallParser::parse(ToolFormat format, std::string_view text, const std::string& id_prefix) {
  ToolCallParser p(format, id_prefix);
  Final f;
  f.content = p.push(text);
  Final rest = p.finish();
  f.content += rest.content;
  f.calls = std::move(rest.calls);
  return f;
}

}  // namespace r1::server
