// Request validation and response JSON of the schema layer.
#include "server/schema.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <limits>
#include <utility>

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
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": 1})", "logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": 21})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "logprobs": true, "top_logprobs": -1})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_logprobs": 2})", "top_logprobs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "frequency_penalty": "a lot"})", "frequency_penalty"},
      {R"({"messages": [{"role": "user", "content": "x"}], "max_reasoning_tokens": -1})", "max_reasoning_tokens"},
      {R"({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "extreme"})", "reasoning_effort"},
      {R"({"messages": [{"role": "user", "content": "x"}], "reasoning_effort": "low", "max_reasoning_tokens": 5})", "reasoning_effort"},
      {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": [1]})", "chat_template_kwargs"},
      {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs": {"messages": []}})", "chat_template_kwargs.messages"},
      {R"({"messages": [{"role": "user", "content": "x"}], "presence_penalty": 9})", "presence_penalty"},
      {R"({"messages": [{"role": "user", "content": "x"}], "top_k": -2})", "top_k"},
      {R"({"messages": [{"role": "user", "content": "x"}], "min_p": 1.5})", "min_p"},
      {R"({"messages": [{"role": "user", "content": "x"}], "repetition_penalty": 0})", "repetition_penalty"},
      {R"({"messages": [{"role": "user", "content": "x"}], "repetition_penalty": 1.1, "repeat_penalty": 1.1})", "repeat_penalty"},
      {R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type": "function", "function": {"name": "f", "strict": true}}]})", "tools[0].function.strict"},
  };
  for (const auto& c : cases) {
    ApiError e = chat_err(c.body);
    EXPECT_EQ(e.status, 400) << c.body;
    EXPECT_EQ(e.type, "invalid_request_error") << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_FALSE(e.message.empty()) << c.body;
  }
}

TEST(Schema, LogprobsPenaltiesAndThinkingControls) {
  auto r = chat_ok(R"({"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":20,
    "frequency_penalty":0.5,"presence_penalty":-1.5,"reasoning_effort":"low",
    "chat_template_kwargs":{"enable_thinking":false,"n":{"a":1}}})");
  EXPECT_TRUE(r.logprobs);
  EXPECT_EQ(r.top_logprobs, 20);
  EXPECT_FLOAT_EQ(*r.frequency_penalty, 0.5f);
  EXPECT_FLOAT_EQ(*r.presence_penalty, -1.5f);
  EXPECT_EQ(r.max_reasoning_tokens, 1024);
  EXPECT_EQ(r.chat_template_kwargs.dump(), R"({"enable_thinking":false,"n":{"a":1}})");
  auto extras = chat_ok(R"({"messages":[{"role":"user","content":"x"}],"top_k":-1,"min_p":0.1,"repeat_penalty":1.3})");
  EXPECT_EQ(*extras.top_k, 0);
  EXPECT_FLOAT_EQ(*extras.min_p, 0.1f);
  EXPECT_FLOAT_EQ(*extras.repetition_penalty, 1.3f);
  EXPECT_EQ(chat_ok(R"({"messages":[{"role":"user","content":"x"}],"max_reasoning_tokens":0})").max_reasoning_tokens, 0);
  auto plain = chat_ok(R"({"messages":[{"role":"user","content":"x"}],"logprobs":false})");
  EXPECT_FALSE(plain.logprobs);
  EXPECT_FALSE(plain.max_reasoning_tokens);
  // Completions: logprobs is the alternatives' count; 0 still asks for the chosen tokens'.
  auto c = parse_completion_request(R"({"prompt":"a","logprobs":0})");
  ASSERT_TRUE(std::get_if<GenerationRequest>(&c));
  EXPECT_TRUE(std::get<GenerationRequest>(c).logprobs);
  EXPECT_EQ(std::get<GenerationRequest>(c).top_logprobs, 0);
  for (const char* bad : {R"({"prompt":"a","logprobs":21})", R"({"prompt":"a","logprobs":true})",
                          R"({"prompt":"a","top_logprobs":2})", R"({"prompt":"a","max_reasoning_tokens":3})"}) {
    auto e = parse_completion_request(bad);
    ASSERT_TRUE(std::get_if<ApiError>(&e)) << bad;
    EXPECT_EQ(std::get<ApiError>(e).status, 400) << bad;
  }
}

TEST(Schema, RefusesParametersItWouldNotHonour) {
  const std::pair<const char*, const char*> chat_cases[] = {
      {R"("functions":[{"name":"f"}])", "functions"},
      {R"("function_call":"auto")", "function_call"},
      {R"("logit_bias":{"50256":-100})", "logit_bias"},
      {R"("prediction":{"type":"content","content":"x"})", "prediction"},
      {R"("audio":{"voice":"alloy","format":"mp3"})", "audio"},
      {R"("modalities":["text","audio"])", "modalities"},
      {R"("web_search_options":{})", "web_search_options"},
  };
  for (const auto& [field, param] : chat_cases) {
    const std::string body = std::string(R"({"messages":[{"role":"user","content":"x"}],)") + field + "}";
    ApiError e = chat_err(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body;
    EXPECT_EQ(e.code, "unsupported_parameter") << body;
  }
  // Their neutral values, and fields that change nothing in the output, are accepted.
  chat_ok(R"({"messages":[{"role":"user","content":"x"}],"tools":[],"tool_choice":"none",
    "logit_bias":{},"response_format":{"type":"text"},"modalities":["text"],"user":"u",
    "store":false,"metadata":{"a":"b"},"service_tier":"auto","parallel_tool_calls":true})");
  for (const char* bad : {R"({"prompt":"a","echo":true})", R"({"prompt":"a","suffix":"end"})",
                          R"({"prompt":"a","best_of":3})", R"({"prompt":"a","n":2,"best_of":3})"}) {
    auto e = parse_completion_request(bad);
    ASSERT_TRUE(std::get_if<ApiError>(&e)) << bad;
    EXPECT_EQ(std::get<ApiError>(e).code, "unsupported_parameter") << bad;
  }
  for (const char* ok : {R"({"prompt":"a","echo":false,"suffix":"","best_of":1})",
                         R"({"prompt":"a","n":2,"best_of":2})"}) {
    auto r = parse_completion_request(ok);
    EXPECT_TRUE(std::get_if<GenerationRequest>(&r)) << ok;
  }
}

TEST(Schema, StructuredOutputCompilesToAGrammar) {
  const std::string head = R"({"messages":[{"role":"user","content":"x"}],)";
  auto json_object = chat_ok(head + R"("response_format":{"type":"json_object"}})");
  ASSERT_TRUE(json_object.grammar);
  EXPECT_NE(json_object.grammar_text.find("root ::= object"), std::string::npos);
  auto schema = chat_ok(head + R"("response_format":{"type":"json_schema","json_schema":{"name":"p","strict":true,
    "schema":{"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"string"}},"required":["b","a"]}}}})");
  ASSERT_TRUE(schema.grammar);
  // Properties keep the schema's order (b before a), not the parser's sorted one.
  grammar::Matcher m(schema.grammar);
  EXPECT_TRUE(m.accept_bytes(R"({"b": 1, "a": "x"})") && m.complete());
  auto gbnf = chat_ok(head + R"("grammar":"root ::= \"yes\" | \"no\""})");
  ASSERT_TRUE(gbnf.grammar);
  EXPECT_TRUE(chat_ok(head + R"("response_format":{"type":"text"}})").grammar == nullptr);
  auto completion = parse_completion_request(R"({"prompt":"a","grammar":"root ::= [0-9]+"})");
  ASSERT_TRUE(std::get_if<GenerationRequest>(&completion));
  EXPECT_TRUE(std::get<GenerationRequest>(completion).grammar);

  const std::tuple<const char*, const char*, const char*> bad[] = {
      {R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","format":"email"}}})",
       "response_format.json_schema.schema", "unsupported_json_schema"},
      {R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"objct"}}})",
       "response_format.json_schema.schema", "invalid_json_schema"},
      {R"("response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"properties":3}}})",
       "response_format.json_schema.schema", "invalid_json_schema"},
      {R"("response_format":{"type":"json_schema"})", "response_format.json_schema", "invalid_type"},
      {R"("response_format":{"type":"xml"})", "response_format.type", "invalid_value"},
      {R"("grammar":"root ::= undefined-rule")", "grammar", "invalid_grammar"},
      {R"("grammar":7)", "grammar", "invalid_type"},
      {R"("grammar":"root ::= \"a\"","response_format":{"type":"json_object"})", "grammar", "invalid_value"},
  };
  for (const auto& [field, param, code] : bad) {
    const std::string body = head + field + "}";
    ApiError e = chat_err(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.message;
    EXPECT_EQ(e.code, code) << body << ": " << e.message;
  }
  EXPECT_NE(chat_err(head + std::get<0>(bad[0]) + "}").message.find("'format'"), std::string::npos);
}

TEST(Schema, ToolsToolChoiceAndToolMessages) {
  const std::string head = R"({"messages":[{"role":"user","content":"x"},
    {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get","arguments":"{\"q\": 1}"}}]},
    {"role":"tool","tool_call_id":"c1","content":"42"}],
    "tools":[{"type":"function","function":{"name":"get","description":"d","parameters":{"type":"object","properties":{"z":{"type":"string"},"a":{"type":"integer"}}}}},
             {"type":"function","function":{"name":"put"}}])";
  auto r = chat_ok(head + "}");
  ASSERT_EQ(r.tools.size(), 2u);
  EXPECT_EQ(r.tool_choice, ToolChoice::Auto);
  EXPECT_EQ(r.tools[0].description, "d");
  EXPECT_EQ(r.tools[0].parameters["properties"].begin().key(), "z");  // the schema's order
  ASSERT_EQ(r.messages[1].tool_calls.size(), 1u);
  EXPECT_TRUE(r.messages[1].content_null);
  EXPECT_EQ(r.messages[1].tool_calls[0].arguments, "{\"q\": 1}");
  EXPECT_EQ(r.messages[2].tool_call_id, "c1");
  EXPECT_EQ(chat_ok(head + R"(,"tool_choice":"required"})").tool_choice, ToolChoice::Required);
  auto named = chat_ok(head + R"(,"tool_choice":{"type":"function","function":{"name":"put"}},"parallel_tool_calls":false})");
  EXPECT_EQ(named.tool_choice, ToolChoice::Named);
  EXPECT_EQ(named.tool_choice_index, 1);
  EXPECT_FALSE(named.parallel_tool_calls);
  EXPECT_EQ(chat_ok(head + R"(,"tool_choice":"none"})").tool_choice, ToolChoice::None);

  const std::pair<std::string, const char*> bad[] = {
      {head + R"(,"tool_choice":{"type":"function","function":{"name":"delete"}}})", "tool_choice"},
      {head + R"(,"tool_choice":"sometimes"})", "tool_choice"},
      {R"({"messages":[{"role":"user","content":"x"}],"tool_choice":"required"})", "tool_choice"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a b"}}]})", "tools[0].function.name"},
      {R"({"messages":[{"role":"user","content":"x"}],"tools":[{"type":"retrieval"}]})", "tools[0].type"},
      {R"({"messages":[{"role":"tool","content":"x"}]})", "messages[0].tool_call_id"},
      {R"({"messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":"{"}}]}]})", "messages[0].tool_calls[0].function.arguments"},
      {head + R"(,"tool_choice":"required","response_format":{"type":"json_object"}})", "tool_choice"},
  };
  for (const auto& [body, param] : bad) {
    ApiError e = chat_err(body);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body << ": " << e.message;
  }
  EXPECT_NE(chat_err(bad[0].first).message.find("'delete'"), std::string::npos);
}

TEST(ToolCalls, FormatsParsingAndForcingGrammars) {
  EXPECT_EQ(detect_tool_format("{% for tool in tools %}<tool_call>"), ToolFormat::Qwen);
  EXPECT_EQ(detect_tool_format("{{'<｜tool▁calls▁begin｜>'}}"), ToolFormat::DeepSeek);
  EXPECT_EQ(detect_tool_format("{{ bos_token }}{{ message.content }}"), ToolFormat::None);

  // DeepSeek: two calls after some content, streamed at awkward splits.
  const std::string ds = "Let me look.<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get\n```json\n{\"q\": 1}\n```<｜tool▁call▁end｜>"
                         "\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>put\n```json\n{}\n```<｜tool▁call▁end｜><｜tool▁calls▁end｜>";
  ToolCallParser p(ToolFormat::DeepSeek, "call_x");
  std::string streamed;
  for (size_t i = 0; i < ds.size(); i += 5) streamed += p.push(ds.substr(i, 5));
  auto f = p.finish();
  EXPECT_EQ(streamed + f.content, "Let me look.");
  ASSERT_EQ(f.calls.size(), 2u);
  EXPECT_EQ(f.calls[0].id, "call_x_0");
  EXPECT_EQ(f.calls[0].name, "get");
  EXPECT_EQ(f.calls[0].arguments, "{\"q\":1}");
  EXPECT_EQ(f.calls[1].name, "put");
  // Qwen.
  auto q = ToolCallParser::parse(ToolFormat::Qwen, "<tool_call>\n{\"name\": \"get\", \"arguments\": {\"q\": [1]}}\n</tool_call>", "c");
  EXPECT_EQ(q.content, "");
  ASSERT_EQ(q.calls.size(), 1u);
  EXPECT_EQ(q.calls[0].arguments, "{\"q\":[1]}");
  // Text that only looks like a call stays content.
  auto broken = ToolCallParser::parse(ToolFormat::Qwen, "a <tool_call> not json", "c");
  EXPECT_EQ(broken.content, "a <tool_call> not json");
  EXPECT_TRUE(broken.calls.empty());

  // The forcing grammars accept the calls the parser reads, and nothing else.
  std::vector<ToolSpec> tools(2);
  tools[0].name = "get";
  tools[0].parameters = nlohmann::ordered_json::parse(R"({"type":"object","properties":{"q":{"type":"integer"}},"required":["q"]})");
  tools[1].name = "put";
  for (auto [format, one, two] : {std::tuple{ToolFormat::DeepSeek, ds.substr(12), std::string()},
                                  std::tuple{ToolFormat::Qwen, std::string("<tool_call>\n{\"name\": \"get\", \"arguments\": {\"q\": 7}}\n</tool_call>"),
                                             std::string("<tool_call>\n{\"name\": \"put\", \"arguments\": {}}\n</tool_call>")}}) {
    auto any = tool_call_gbnf(format, tools, -1, true);
    ASSERT_TRUE(any.ok()) << any.message();
    auto g = grammar::parse_gbnf(any.value());
    ASSERT_TRUE(g.ok()) << g.message() << any.value();
    grammar::Matcher m(g.value());
    const std::string text = two.empty() ? one : one + "\n" + two;
    EXPECT_TRUE(m.accept_bytes(text) && m.complete()) << text;
    auto named = grammar::parse_gbnf(tool_call_gbnf(format, tools, 1, false).value());
    ASSERT_TRUE(named.ok());
    grammar::Matcher m2(named.value());
    EXPECT_FALSE(m2.accept_bytes(text) && m2.complete()) << "only 'put' may be called: " << text;
  }
  tools[1].parameters = nlohmann::ordered_json::parse(R"({"type":"object","properties":{"s":{"type":"string","pattern":"x"}}})");
  auto unsupported = tool_call_gbnf(ToolFormat::Qwen, tools, -1, true);
  ASSERT_FALSE(unsupported.ok());
  EXPECT_NE(unsupported.message().find("tool 'put'"), std::string::npos);
  EXPECT_NE(unsupported.message().find("'pattern'"), std::string::npos);
}

TEST(Schema, LogprobsInOpenAIsShapes) {
  ResponseMeta meta{"id", 1, "m"};
  Choice c;
  c.content = "ab";
  c.logprobs = true;
  c.token_logprobs = {{"a", -0.5f, {{"a", -0.5f}, {"b", -1.0f}}, 0},
                      {"\xe2", -std::numeric_limits<float>::infinity(), {}, 1}};
  json chat = json::parse(chat_response_json(meta, {c}, {}));
  const json& lp = chat["choices"][0]["logprobs"];
  ASSERT_EQ(lp["content"].size(), 2u);
  EXPECT_EQ(lp["content"][0]["token"], "a");
  EXPECT_DOUBLE_EQ(lp["content"][0]["logprob"].get<double>(), -0.5);
  EXPECT_EQ(lp["content"][0]["bytes"], json::array({97}));
  EXPECT_EQ(lp["content"][0]["top_logprobs"][1]["token"], "b");
  EXPECT_EQ(lp["content"][0]["top_logprobs"][1]["bytes"], json::array({98}));
  EXPECT_EQ(lp["content"][1]["bytes"], json::array({0xe2}));  // part of a character: bytes exact
  EXPECT_DOUBLE_EQ(lp["content"][1]["logprob"].get<double>(), -9999.0);
  EXPECT_TRUE(lp["refusal"].is_null());
  json cmpl = json::parse(completion_response_json(meta, {c}, {}));
  const json& l = cmpl["choices"][0]["logprobs"];
  EXPECT_EQ(l["tokens"][0], "a");
  EXPECT_DOUBLE_EQ(l["token_logprobs"][0].get<double>(), -0.5);
  EXPECT_DOUBLE_EQ(l["top_logprobs"][0]["b"].get<double>(), -1.0);
  EXPECT_EQ(l["text_offset"], json::array({0, 1}));
  c.logprobs = false;
  EXPECT_TRUE(json::parse(chat_response_json(meta, {c}, {}))["choices"][0]["logprobs"].is_null());
  // Streamed: each chunk carries the log-probs of its own tokens.
  ChunkDelta d;
  d.content = "a";
  d.logprobs = true;
  d.token_logprobs = {{"a", -0.25f, {}, 0}};
  const std::string ev = chat_chunk_sse(meta, d, false);
  json chunk = json::parse(ev.substr(6));
  EXPECT_EQ(chunk["choices"][0]["logprobs"]["content"][0]["token"], "a");
  json cchunk = json::parse(completion_chunk_sse(meta, d, false).substr(6));
  EXPECT_EQ(cchunk["choices"][0]["logprobs"]["tokens"], json::array({"a"}));
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
  json r;
  EXPECT_NO_THROW(r = json::parse(chat_response_json({"i", 1, "m"}, {{bad, "", FinishReason::Stop}}, {})));
  EXPECT_TRUE(r.is_object());
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
