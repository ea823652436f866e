// libFuzzer harness for the server's request schema (network-facing: any client can POST any
// body). Input: a request body, parsed as both a chat and a completions request. Invariants: no
// crash, hang or sanitizer report; an error is a 4xx with a message and serializes to JSON; an
// accepted request satisfies every range schema.h documents, and its text echoed back through
// the response and stream builders gives valid JSON.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include <nlohmann/json.hpp>

#include "server/schema.h"

namespace {

using namespace r1::server;

void must_be_json(const std::string& text) {
  if (nlohmann::json::parse(text, nullptr, false).is_discarded()) std::abort();
}

// `data: {...}\n\n` events carry one JSON object each.
void must_be_sse_json(const std::string& event) {
  constexpr std::string_view kData = "data: ";
  if (event.rfind(kData, 0) != 0 || event.size() < kData.size() + 2) std::abort();
  must_be_json(event.substr(kData.size(), event.size() - kData.size() - 2));
}

void check_request(const GenerationRequest& r, bool chat) {
  if (r.n < 1 || r.n > kMaxChoices) std::abort();
  if (r.stop.size() > static_cast<size_t>(kMaxStop)) std::abort();
  for (const auto& s : r.stop)
    if (s.empty()) std::abort();
  if (r.max_tokens && *r.max_tokens < 1) std::abort();
  if (r.temperature && !(*r.temperature >= 0.0f && *r.temperature <= 2.0f)) std::abort();
  if (r.top_p && !(*r.top_p > 0.0f && *r.top_p <= 1.0f)) std::abort();
  if (chat && (r.kind != GenerationRequest::Kind::Chat || r.messages.empty())) std::abort();
  if (!chat && r.kind != GenerationRequest::Kind::Completion) std::abort();
  if (r.prompt_is_tokens && !r.prompt.empty()) std::abort();

  // Echo what the client sent back through every response builder.
  const ResponseMeta meta{"chatcmpl-fuzz", 1, r.model};
  Choice c;
  c.content = chat ? r.messages.back().content : r.prompt;
  c.reasoning_content = chat ? r.messages.front().reasoning_content : std::string();
  for (const auto& s : r.stop) c.content += s;
  const Usage u{1, 2, 1};
  must_be_json(chat ? chat_response_json(meta, {c}, u) : completion_response_json(meta, {c}, u));
  ChunkDelta d;
  d.role = true;
  d.content = c.content;
  d.reasoning_content = c.reasoning_content;
  d.finish = FinishReason::Length;
  must_be_sse_json(chat ? chat_chunk_sse(meta, d, r.include_usage) : completion_chunk_sse(meta, d, r.include_usage));
  must_be_sse_json(usage_chunk_sse(meta, chat, u));
  must_be_json(models_json(r.model, 1));
  must_be_json(model_json(r.model, 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (bool chat : {true, false}) {
    const auto r = chat ? parse_chat_request(body) : parse_completion_request(body);
    if (const auto* e = std::get_if<ApiError>(&r)) {
      if (e->status < 400 || e->status > 499 || e->message.empty()) std::abort();
      must_be_json(error_json(*e));
      must_be_sse_json(error_sse(*e));
      continue;
    }
    check_request(std::get<GenerationRequest>(r), chat);
  }
  return 0;
}
