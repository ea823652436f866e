// Issue 18's request features through the scheduler with the FakeBackend: log-probs (chosen token
// and alternatives, every token but EOS, streamed deltas adding up), the thinking budget (the
// closing tag forced after N reasoning tokens) and chat_template_kwargs reaching the template.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "core/test_util.h"
#include "grammar/json_schema.h"
#include "server/structured.h"

#include "server/batcher.h"
#include "server/fake_backend.h"
#include "server/queue.h"

namespace r1::server {
namespace {

using namespace std::chrono_literals;

struct Harness {
  FakeBackend backend;
  AdmissionQueue queue{64};
  Metrics metrics;
  Batcher batcher;
  explicit Harness(std::string script) : backend([&] {
    FakeBackend::Options o;
    o.script = std::move(script);
    return o;
  }()), batcher(backend, queue, metrics, 2) {
    batcher.start();
  }
};

std::vector<JobEvent> run(Harness& h, std::shared_ptr<Job> j) {
  h.queue.submit(j);
  std::vector<JobEvent> evs;
  const auto until = Clock::now() + 5000ms;
  while (Clock::now() < until) {
    j->wait_events(evs, 20ms);
    if (!evs.empty() && evs.back().kind != JobEvent::Kind::Delta) return evs;
  }
  ADD_FAILURE() << "job did not finish";
  return evs;
}

std::shared_ptr<Job> chat_job(std::string prompt, bool opens_think) {
  auto j = std::make_shared<Job>();
  for (char c : prompt) j->prompt_tokens.push_back(static_cast<unsigned char>(c));
  j->prompt_opens_think = opens_think;
  j->max_tokens = 200;
  j->sampling.temperature = 0.0f;  // greedy: the fake model's script
  return j;
}

TEST(Logprobs, EveryTokenButEosWithTheBackendsValuesAndOffsets) {
  Harness h("abc");
  auto j = chat_job("hi", false);
  j->kind = GenerationRequest::Kind::Completion;
  j->sampling.top_logprobs = 3;
  auto evs = run(h, j);
  std::vector<TokenLogprobs> all;
  for (const auto& e : evs) {
    if (e.kind != JobEvent::Kind::Delta) continue;
    EXPECT_TRUE(e.delta.logprobs);
    all.insert(all.end(), e.delta.token_logprobs.begin(), e.delta.token_logprobs.end());
  }
  ASSERT_EQ(all.size(), 3u);  // a, b, c; not EOS
  const float half = std::log(0.5f);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(all[i].token, std::string(1, "abc"[i]));
    EXPECT_FLOAT_EQ(all[i].logprob, half);
    EXPECT_EQ(all[i].text_offset, static_cast<int64_t>(i));
    ASSERT_EQ(all[i].top.size(), 3u);
    // The fake's distribution: 1/2 on the script byte, 1/4 on the next byte, 1/8 on the one after.
    EXPECT_EQ(all[i].top[0].first, std::string(1, "abc"[i]));
    EXPECT_EQ(all[i].top[1].first, std::string(1, static_cast<char>("abc"[i] + 1)));
    EXPECT_FLOAT_EQ(all[i].top[2].second, 3 * half);
  }
}

TEST(Logprobs, AbsentUnlessAsked) {
  Harness h("abc");
  auto evs = run(h, chat_job("hi", false));
  for (const auto& e : evs) {
    EXPECT_FALSE(e.delta.logprobs);
    EXPECT_TRUE(e.delta.token_logprobs.empty());
  }
}

struct Split {
  std::string reasoning, content;
  int64_t reasoning_tokens = 0, completion_tokens = 0;
  size_t n_logprobs = 0;
};
Split split(const std::vector<JobEvent>& evs) {
  Split s;
  for (const auto& e : evs) {
    s.reasoning += e.delta.reasoning_content;
    s.content += e.delta.content;
    s.n_logprobs += e.delta.token_logprobs.size();
    if (e.kind == JobEvent::Kind::Done) {
      s.reasoning_tokens = e.usage.reasoning_tokens;
      s.completion_tokens = e.usage.completion_tokens;
    }
  }
  return s;
}

TEST(ThinkingBudget, ForcesTheClosingTagAfterTheBudget) {
  Harness h("abcdefghij</think>\n\nanswer");
  auto j = chat_job("q", true);
  j->max_reasoning_tokens = 4;
  j->sampling.top_logprobs = 0;
  Split s = split(run(h, j));
  EXPECT_EQ(s.reasoning, "abcd");
  // The forced tokens do not consume the script: it goes on where the budget cut it.
  EXPECT_EQ(s.content, "efghij</think>\n\nanswer");
  // 4 sampled thinking tokens plus the forced "\n</think>" (9 bytes, the last one closing the
  // block); the forced "\n\n" after it are content tokens.
  EXPECT_EQ(s.reasoning_tokens, 4 + 9);
  EXPECT_EQ(s.n_logprobs, static_cast<size_t>(s.completion_tokens - 1));  // forced ones too
}

TEST(ThinkingBudget, ZeroMeansNoReasoningAndUnsetMeansUnlimited) {
  Harness h("abc</think>\n\nok");
  auto zero = chat_job("q", true);
  zero->max_reasoning_tokens = 0;
  Split z = split(run(h, zero));
  EXPECT_EQ(z.reasoning, "");
  EXPECT_EQ(z.content, "abc</think>\n\nok");
  auto free = chat_job("q", true);
  Split f = split(run(h, free));
  EXPECT_EQ(f.reasoning, "abc");
  EXPECT_EQ(f.content, "ok");
  // A model that closes the block within its budget is not touched.
  auto roomy = chat_job("q", true);
  roomy->max_reasoning_tokens = 100;
  Split r = split(run(h, roomy));
  EXPECT_EQ(r.reasoning, "abc");
  EXPECT_EQ(r.content, "ok");
}

TEST(ThinkingBudget, CompletionsAreNeverForced) {
  Harness h("abcdef");
  auto j = chat_job("q", true);
  j->kind = GenerationRequest::Kind::Completion;
  j->max_reasoning_tokens = 1;
  EXPECT_EQ(split(run(h, j)).content, "abcdef");
}

TEST(ChatTemplateKwargs, ReachTheTemplate) {
  FakeBackend::Options o;
  o.template_opens_think = true;
  FakeBackend b(o);
  const std::vector<ChatMessage> m = {{"user", "hi", ""}};
  auto on = b.render_chat(m, nlohmann::ordered_json::object());
  auto off = b.render_chat(m, {{"enable_thinking", false}});
  ASSERT_TRUE(std::holds_alternative<std::string>(on));
  ASSERT_TRUE(std::holds_alternative<std::string>(off));
  EXPECT_TRUE(std::get<std::string>(on).ends_with("<think>\n"));
  EXPECT_TRUE(std::get<std::string>(off).ends_with("</think>\n\n"));
}

// Masks over the real 150K-token vocabulary: equal to a token-by-token check, and timed (printed;
// a vocabulary walk happens once per grammar state, a cache hit every other time).
TEST(GrammarConstraint, MasksOnTheRealVocabulary) {
  R1_SKIP_UNLESS_SHARED("tokenizers/r1_distill_qwen/tokenizer.json");
  auto tok = tok::Tokenizer::from_tokenizer_json(test::shared_path("tokenizers/r1_distill_qwen/tokenizer.json"));
  ASSERT_TRUE(tok.ok()) << tok.message();
  GrammarStore store;
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  const grammar::TokenTable& table = store.table(*tok.value(), tok.value()->eos_ids());
  const double table_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
  auto g = grammar::parse_gbnf(grammar::json_object_gbnf());
  ASSERT_TRUE(g.ok());
  auto compiled = store.get("json", g.value());
  for (const char* prefix : {"", "{\"key\": \"some text ", "{\"a\": [1, 2", "{\"a\": tr"}) {
    grammar::Matcher m(g.value());
    ASSERT_TRUE(m.accept_bytes(prefix));
    t0 = clock::now();
    auto mask = compiled->masks.get(m, table);
    const double miss_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    t0 = clock::now();
    auto again = compiled->masks.get(m, table);
    const double hit_ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    EXPECT_EQ(mask, again);
    int64_t allowed = 0;
    for (int32_t id = 0; id < table.size(); ++id) allowed += grammar::mask_test(*mask, id);
    std::printf("after '%s': %lld of %d tokens allowed; walk %.2f ms, cached %.3f ms (token table %.0f ms)\n",
                prefix, static_cast<long long>(allowed), table.size(), miss_ms, hit_ms, table_ms);
    for (int32_t id = 0; id < table.size(); id += 97) {
      grammar::Matcher one(g.value());
      ASSERT_TRUE(one.accept_bytes(prefix));
      const bool want = !table.excluded(id) && one.accept_bytes(table.bytes(id));
      ASSERT_EQ(grammar::mask_test(*mask, id), want) << "after '" << prefix << "': token " << id << " '" << table.bytes(id) << "'";
    }
  }
}

}  // namespace
}  // namespace r1::server
