// The server's schema layer: OpenAI wire-format requests parsed and validated into plain structs,
// and responses, stream chunks and errors built as JSON text. No sockets, no model: every function
// here is pure and unit-tested on its own (schema_test.cpp).
// Wire format: https://platform.openai.com/docs/api-reference/chat and .../completions, plus
// DeepSeek's `reasoning_content` extension (api-docs.deepseek.com/guides/reasoning_model).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/grammar.h"
#include "server/tool_calls.h"

namespace r1::server {

/// An error as OpenAI reports it: HTTP status plus {"error": {message, type, param, code}}.
/// type is "invalid_request_error" (4xx from the request), "authentication_error" (401),
/// "not_found_error" (404), "rate_limit_error" (429), "server_error" (5xx).
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field ("messages[1].content"), empty when none
  std::string code;   // machine-readable ("context_length_exceeded"), empty when none
};

/// Either a T or an ApiError.
template <typename T>
using ApiResult = std::variant<T, ApiError>;

/// One chat message; content parts of type "text" are concatenated into `content`.
struct ChatMessage {
  std::string role;  // system | developer | user | assistant | tool
  std::string content;
  std::string reasoning_content;  // only meaningful on assistant turns sent back by a client
  bool content_null = false;      // content was null or absent (assistant turns with tool calls)
  std::vector<ToolCall> tool_calls{};  // assistant: calls it made (arguments as JSON text)
  std::string tool_call_id{};        // tool: the call this result answers
  std::string name{};                // tool: the function's name, when the client sent it
};

/// tool_choice: none (tools are not offered), auto (the model decides), required (at least one
/// call, forced by a grammar), or one named function (forced).
enum class ToolChoice { None, Auto, Required, Named };

/// A validated generation request, chat or raw completion.
struct GenerationRequest {
  enum class Kind { Chat, Completion };
  Kind kind = Kind::Chat;
  std::string model;                   // as sent; empty when the client omitted it
  std::vector<ChatMessage> messages;   // Kind::Chat
  std::string prompt;                  // Kind::Completion, text form
  std::vector<int32_t> prompt_tokens;  // Kind::Completion given as token ids (then prompt is empty)
  bool prompt_is_tokens = false;
  std::optional<int64_t> max_tokens;   // max_tokens or max_completion_tokens; unset: until ctx
  std::optional<float> temperature;    // [0, 2]; unset: the model's default
  std::optional<float> top_p;          // (0, 1]; unset: the model's default
  std::optional<uint64_t> seed;        // unset: a fresh seed per request
  std::vector<std::string> stop;       // up to 4 non-empty strings
  int n = 1;                           // choices, [1, kMaxChoices]
  bool stream = false;
  bool include_usage = false;          // stream_options.include_usage
  // Sampler extensions of vLLM and llama-server (not OpenAI's): unset: the server's defaults.
  std::optional<int32_t> top_k;               // >= 0; 0 (or vLLM's -1): off
  std::optional<float> min_p;                 // [0, 1]
  std::optional<float> repetition_penalty;    // (0, 10]; also llama-server's repeat_penalty
  std::optional<float> frequency_penalty;  // [-2, 2]; unset: 0
  std::optional<float> presence_penalty;   // [-2, 2]; unset: 0
  // Log-probs: chat `logprobs: true` + `top_logprobs: K`, completions `logprobs: K`.
  bool logprobs = false;
  int top_logprobs = 0;                // [0, kMaxTopLogprobs]
  // Thinking budget: max_reasoning_tokens, or reasoning_effort mapped by
  // kReasoningEffortBudgets; unset: unlimited.
  std::optional<int64_t> max_reasoning_tokens;
  nlohmann::ordered_json chat_template_kwargs = nlohmann::ordered_json::object();  // chat only
  // Structured output: GBNF from llama-server's `grammar`, or compiled from response_format
  // (json_object, json_schema); empty: free text. `grammar` is its parse.
  std::string grammar_text;
  std::shared_ptr<const grammar::Grammar> grammar;
  // Tool calling (chat): the functions offered and how the model must use them.
  std::vector<ToolSpec> tools;
  ToolChoice tool_choice = ToolChoice::None;  // Auto when tools are given and tool_choice is not
  int tool_choice_index = -1;                 // Named: index into tools
  bool parallel_tool_calls = true;
};

inline constexpr int kMaxChoices = 16;
inline constexpr int kMaxStop = 4;
/// OpenAI's limit on top_logprobs (chat); the legacy completions API allowed 5, we allow 20 there
/// too, as vLLM does.
inline constexpr int kMaxTopLogprobs = 20;

/// reasoning_effort -> thinking budget (tokens of <think> before </think> is forced). OpenAI
/// publishes no token counts for its efforts, so these are our choice: low/medium/high a factor
/// of four apart from 1K, "minimal" 256, and "none" an empty reasoning block.
struct ReasoningEffortBudget {
  const char* effort;
  int64_t budget_tokens;
};
inline constexpr ReasoningEffortBudget kReasoningEffortBudgets[] = {
    {"none", 0}, {"minimal", 256}, {"low", 1024}, {"medium", 4096}, {"high", 16384}};

/// Parses and validates a POST /v1/chat/completions body. Unknown fields are ignored (clients send
/// many); known fields of the wrong type or out of range give a 400 naming the field (`param`).
/// Null counts as absent for optional fields, as in OpenAI's API. Fields of OpenAI's API that this
/// server would not honour get a 400 with code "unsupported_parameter" instead of being ignored:
/// the legacy functions/function_call, logit_bias (non-empty), tools marked strict under
/// tool_choice auto (only forced calls are decoded under their schema), prediction, audio,
/// modalities other than ["text"],
/// web_search_options; for completions echo, suffix and best_of other than 1 or n. Fields that
/// change nothing in the output (user, store, metadata, service_tier, parallel_tool_calls) are
/// accepted.
ApiResult<GenerationRequest> parse_chat_request(std::string_view body);

/// Same for POST /v1/completions: `prompt` is a string, a one-string array or an array of token
/// ids.
ApiResult<GenerationRequest> parse_completion_request(std::string_view body);

/// Why a choice ended.
enum class FinishReason { None, Stop, Length, ToolCalls };
const char* finish_reason_name(FinishReason r);  // "stop", "length", "tool_calls"; "" for None

/// Token counts of one request (all choices together, as OpenAI counts them).
struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t reasoning_tokens = 0;  // of completion_tokens, those inside <think>...</think>
};

/// The log-prob of one generated token and of the most likely alternatives at its position.
/// Tokens are raw bytes (a token may hold part of a UTF-8 character): JSON gets `bytes` exactly
/// and `token` with invalid UTF-8 replaced by U+FFFD.
struct TokenLogprobs {
  std::string token;
  float logprob = 0.0f;
  std::vector<std::pair<std::string, float>> top;  // most likely first
  int64_t text_offset = 0;  // completions: byte offset of the token in the choice's text
};

/// One finished choice.
struct Choice {
  std::string content;
  std::string reasoning_content;  // chat only; omitted from JSON when the model did not think
  FinishReason finish = FinishReason::Stop;
  bool logprobs = false;                 // the request asked for them ("logprobs": null if not)
  std::vector<TokenLogprobs> token_logprobs{};  // every generated token but EOS, in order
  std::vector<ToolCall> tool_calls{};  // chat: message.tool_calls (content null when empty)
};

/// Identity of one response: id ("chatcmpl-..."/"cmpl-..."), creation time (unix s), model id.
struct ResponseMeta {
  std::string id;
  int64_t created = 0;
  std::string model;
};

/// {"object": "chat.completion", ...} with message.content, message.reasoning_content and usage
/// including completion_tokens_details.reasoning_tokens. With log-probs, choices[].logprobs is
/// {"content": [{token, logprob, bytes, top_logprobs: [{token, logprob, bytes}]}], "refusal": null}
/// covering every generated token, the reasoning's included (as vLLM does).
std::string chat_response_json(const ResponseMeta& meta, const std::vector<Choice>& choices,
                               const Usage& usage);
/// {"object": "text_completion", ...}. With log-probs, choices[].logprobs is the legacy object
/// {tokens, token_logprobs, top_logprobs: [{token: logprob}], text_offset}.
std::string completion_response_json(const ResponseMeta& meta, const std::vector<Choice>& choices,
                                     const Usage& usage);

/// A streamed delta of one choice. For chat: role is sent once (first chunk), then
/// reasoning_content and/or content pieces; finish set on the last chunk of the choice.
struct ChunkDelta {
  int index = 0;
  bool role = false;
  std::string content;
  std::string reasoning_content;
  FinishReason finish = FinishReason::None;
  bool logprobs = false;                      // the request asked for them
  std::vector<TokenLogprobs> token_logprobs{};  // of the tokens generated since the last delta
  std::vector<ToolCall> tool_calls{};  // chat: whole calls (delta.tool_calls with their index)
};

/// One SSE event `data: {...}\n\n` of a chat stream ("chat.completion.chunk"). When
/// include_usage is set every chunk carries "usage": null as OpenAI does.
std::string chat_chunk_sse(const ResponseMeta& meta, const ChunkDelta& d, bool include_usage);
/// One SSE event of a completions stream ("text_completion" with choices[].text).
std::string completion_chunk_sse(const ResponseMeta& meta, const ChunkDelta& d,
                                 bool include_usage);
/// The final usage event (choices: []) sent before [DONE] when include_usage is set.
std::string usage_chunk_sse(const ResponseMeta& meta, bool chat, const Usage& usage);
/// "data: [DONE]\n\n".
std::string done_sse();
/// An error inside an already-started stream: `data: {"error": {...}}\n\n`.
std::string error_sse(const ApiError& e);

/// {"error": {"message", "type", "param", "code"}} (param/code null when empty).
std::string error_json(const ApiError& e);

/// GET /v1/models: {"object": "list", "data": [{"id", "object": "model", "created", "owned_by"}]}.
std::string models_json(const std::string& model_id, int64_t created);
/// GET /v1/models/{id}: one model object.
std::string model_json(const std::string& model_id, int64_t created);

/// The 400 for a prompt that does not fit: "This model's maximum context length is N tokens.
/// However, you requested M tokens (P in the prompt, C for the completion)...".
ApiError context_length_error(int64_t n_ctx, int64_t prompt_tokens, int64_t max_tokens);

}  // namespace r1::server
