// Request validation and response JSON of the schema layer.
#include "server/schema.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace r1::server {
namespace {

using nlohmann::json;

GenerationRequest chat_ok(const std::string& body) {
  auto r = parse_chat_request(body);
  if (auto* e = std::get_if<ApiError>(&r)) ADD_FAILURE() << body << " -> " << e->message;
  return std::get_if<GenerationRequest>(&r) ? std::get<GenerationRequest>(r) : GenerationRequest{};
}

ApiError chat_err(const std::string& body) {
  auto r = parse_chat_request(body);
  if (std::get_if<GenerationRequest>(&r)) {
    ADD_FAILURE() << "accepted: " << body;
    return {};
  }
  return std::get<ApiError>(r);
}

TEST(Schema, ParsesAFullChatRequest) {
  auto r = chat_ok(R"({"model":"m","messages":[{"role":"system","content":"be brief"},
    {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
    "max_tokens":7,"temperature":0.5,"top_p":0.9,"seed":42,"stop":["x","yy"],"n":2,
    "stream":true,"stream_options":{"include_usage":true},"tools":[],"user":"u"})");
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.messages.size(), 2u);
  EXPECT_EQ(r.messages[1].content, "ab");
  EXPECT_EQ(r.max_tokens, 7);
  EXPECT_FLOAT_EQ(*r.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*r.top_p, 0.9f);
  EXPECT_EQ(r.seed, 42u);
  EXPECT_EQ(r.stop, (std::vector<std::string>{"x", "yy"}));
  EXPECT_EQ(r.n, 2);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
}

TEST(Schema, NullMeansAbsentAndMaxCompletionTokensWins) {
  auto r = chat_ok(R"({"messages":[{"role":"user","content":"hi"}],"temperature":null,
    "max_tokens":5,"max_completion_tokens":9,"stop":"END","seed":3.0})");
  EXPECT_FALSE(r.temperature);
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_EQ(r.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(r.seed, 3u);
}

TEST(Schema, RejectsBadChatRequestsNamingTheField) {
  struct Case {
    const char* body;
    const char* param;
  };
  const Case cases[] = {
      {R"({"messages": [)", ""},
      {R"([1,2])", ""},
      {R"({})", "messages"},
      {R"({"messages": []})", "messages"},
      {R"({"messages": "hi"})", "messages"},
      {R"({"messages": [1]})", "messages[0]"},
      {R"({"messages": [{"content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "wizard", "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user"}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": 5}]})", "messages[0].content"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})", "messages[0].content[0].type"},
      {R"({"messages": [{"role": "user", "content": "x"}], "model": 3})", "model"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "10"})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 1.5})", "max_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": 3})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"})", "temperature"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_p": 0})", "top_p"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": 5})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": ["a","b","c","d","e"]})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stop": [""]})", "stop"},
      {R"({"messages": [{"role": "user", "content": "x"}], "n": 0})", "n"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})", "stream"},
      {R"({"messages": [{"role": "user", "content": "x"}], "stream_options": {"include_usage": true}})", "stream_options"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true})", "logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "presence_penalty": 9})", "presence_penalty"},
  };
  for (const auto& c : cases) {
    ApiError e = chat_err(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.type, "invalid_request_error") << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_FALSE(e.message.empty()) << c.body;
  }
}

TEST(Schema, CompletionPromptForms) {
  auto a = parse_completion_request(R"({"prompt": "once upon"})");
  ASSERT_TRUE(std::get_if<GenerationRequest>(&a));
  EXPECT_EQ(std::get<GenerationRequest>(a).prompt, "once upon");
  auto b = parse_completion_request(R"({"prompt": ["one"]})");
  ASSERT_TRUE(std::get_if<GenerationRequest>(&b));
  EXPECT_EQ(std::get<GenerationRequest>(b).prompt, "one");
  auto c = parse_completion_request(R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(std::get_if<GenerationRequest>(&c));
  EXPECT_TRUE(std::get<GenerationRequest>(c).prompt_is_tokens);
  EXPECT_EQ(std::get<GenerationRequest>(c).prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  for (const char* bad : {R"({})", R"({"prompt": 5})", R"({"prompt": ""})", R"({"prompt": []})",
                          R"({"prompt": ["a", "b"]})", R"({"prompt": [1, "x"]})", R"({"prompt": [-1]})"}) {
    auto r = parse_completion_request(bad);
    ASSERT_TRUE(std::get_if<ApiError>(&r)) << bad;
    EXPECT_EQ(std::get<ApiError>(r).status, 400) << bad;
    EXPECT_EQ(std::get<ApiError>(r).param.substr(0, 6), "prompt") << bad;
  }
}

TEST(Schema, ChatResponseCarriesReasoningAndUsage) {
  ResponseMeta meta{"chatcmpl-1", 123, "m"};
  Usage u{10, 7, 4};
  json j = json::parse(chat_response_json(meta, {{"answer", "thinking", FinishReason::Length}}, u));
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "answer");
  EXPECT_EQ(j["choices"][0]["message"]["reasoning_content"], "thinking");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["total_tokens"], 17);
  EXPECT_EQ(j["usage"]["completion_tokens_details"]["reasoning_tokens"], 4);
  // Without reasoning the field is omitted, as DeepSeek's API does for non-reasoning models.
  json k = json::parse(chat_response_json(meta, {{"a", "", FinishReason::Stop}}, u));
  EXPECT_FALSE(k["choices"][0]["message"].contains("reasoning_content"));
}

json sse_payload(const std::string& event) {
  EXPECT_EQ(event.substr(0, 6), "data: ");
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n");
  return json::parse(event.substr(6, event.size() - 8));
}

TEST(Schema, ChunksAndUsageEvent) {
  ResponseMeta meta{"chatcmpl-1", 1, "m"};
  ChunkDelta d;
  d.role = true;
  d.reasoning_content = "hmm";
  json a = sse_payload(chat_chunk_sse(meta, d, true));
  EXPECT_EQ(a["object"], "chat.completion.chunk");
  EXPECT_EQ(a["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(a["choices"][0]["delta"]["reasoning_content"], "hmm");
  EXPECT_FALSE(a["choices"][0]["delta"].contains("content"));
  EXPECT_TRUE(a["choices"][0]["finish_reason"].is_null());
  EXPECT_TRUE(a.contains("usage") && a["usage"].is_null());
  json u = sse_payload(usage_chunk_sse(meta, true, Usage{3, 2, 1}));
  EXPECT_TRUE(u["choices"].empty());
  EXPECT_EQ(u["usage"]["prompt_tokens"], 3);
  d = {};
  d.content = "x";
  d.finish = FinishReason::Stop;
  json c = sse_payload(completion_chunk_sse(meta, d, false));
  EXPECT_EQ(c["choices"][0]["text"], "x");
  EXPECT_EQ(c["choices"][0]["finish_reason"], "stop");
  EXPECT_FALSE(c.contains("usage"));
  EXPECT_EQ(done_sse(), "data: [DONE]\n\n");
}

TEST(Schema, ErrorShapeAndInvalidUtf8) {
  ApiError e{404, "no such model", "not_found_error", "model", "model_not_found"};
  json j = json::parse(error_json(e));
  EXPECT_EQ(j["error"]["message"], "no such model");
  EXPECT_EQ(j["error"]["type"], "not_found_error");
  EXPECT_EQ(j["error"]["param"], "model");
  EXPECT_EQ(j["error"]["code"], "model_not_found");
  json k = json::parse(error_json(ApiError{400, "m", "invalid_request_error", "", ""}));
  EXPECT_TRUE(k["error"]["param"].is_null());
  EXPECT_TRUE(k["error"]["code"].is_null());
  // A model can emit a broken UTF-8 sequence; the JSON must stay valid.
  std::string bad = "ok \xE2\x82";
  EXPECT_NO_THROW(json::parse(chat_response_json({"i", 1, "m"}, {{bad, "", FinishReason::Stop}}, {})));
}

TEST(Schema, ContextLengthErrorHasTheNumbers) {
  ApiError e = context_length_error(128, 100, 50);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "context_length_exceeded");
  EXPECT_NE(e.message.find("128"), std::string::npos);
  EXPECT_NE(e.message.find("150"), std::string::npos);
  EXPECT_NE(e.message.find("100"), std::string::npos);
}

}  // namespace
}  // namespace r1::server
