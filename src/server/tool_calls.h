// Tool calling in the model's own format: which format a chat template speaks, the tool list for
// templates that do not render it, the grammar that forces a call (tool_choice required or a
// named function), and the parser that turns the model's tool-call text into OpenAI tool_calls,
// streamed or not. Pure functions and one small state machine; no model.
// Formats: DeepSeek-V3/R1 (<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
// ```json ARGS```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>, as their chat templates render history)
// and Qwen2.5/Qwen3 (<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>, Qwen's template).
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"

namespace r1::server {

enum class ToolFormat { None, DeepSeek, Qwen };

/// The format a chat template's source writes tool calls in: Qwen's when it renders `tools` and
/// `<tool_call>`, DeepSeek's when it renders `<｜tool▁calls▁begin｜>`; None otherwise (the server
/// refuses tools for it).
ToolFormat detect_tool_format(std::string_view template_source);

/// A function the client offers (OpenAI's tools[].function).
struct ToolSpec {
  std::string name;
  std::string description;
  nlohmann::ordered_json parameters = nlohmann::ordered_json::object();  // a JSON schema
  bool strict = false;  // OpenAI's strict: arguments must match the schema
};

/// One call the model made. arguments: JSON text of an object.
struct ToolCall {
  std::string id;
  std::string name;
  std::string arguments;
};

/// The tool list as a system-prompt section, for DeepSeek templates (they render tool calls in the
/// history but not the tools on offer), with the exact call format the template uses.
std::string deepseek_tools_prompt(const std::vector<ToolSpec>& tools);

/// GBNF whose sentences are one call (parallel: one or more) in `format` of `tools[only]`
/// (only < 0: any of them), the arguments constrained by each tool's parameters schema.
/// Errors: the schema errors of json_schema_rules (unsupported or malformed), naming the tool.
Result<std::string> tool_call_gbnf(ToolFormat format, const std::vector<ToolSpec>& tools, int only,
                                   bool parallel);

/// Splits streamed model output into content and tool calls. Text before the first call marker
/// is content, released as it comes (a possible marker prefix is held back); everything from the
/// marker on is parsed by finish(). Text that does not parse as calls stays content.
class ToolCallParser {
 public:
  /// id_prefix: calls get ids id_prefix + "_" + index.
  ToolCallParser(ToolFormat format, std::string id_prefix);
  /// The content that is certain now.
  std::string push(std::string_view text);
  struct Final {
    std::string content;  // the rest of the content
    std::vector<ToolCall> calls;
  };
  /// Ends the stream.
  Final finish();
  /// Parses a whole output (push + finish).
  static Final parse(ToolFormat format, std::string_view text, const std::string& id_prefix);

 private:
  ToolFormat format_;
  std::string id_prefix_;
  std::string held_;
  bool in_calls_ = false;
};

}  // namespace r1::server
