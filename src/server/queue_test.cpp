// Admission queue and continuous-batching scheduler, driven by the deterministic FakeBackend.
#include <gtest/gtest.h>

#include <thread>

#include "server/batcher.h"
#include "server/fake_backend.h"
#include "server/queue.h"
#include "tokenizer/reasoning.h"

namespace r1::server {
namespace {

using namespace std::chrono_literals;

std::shared_ptr<Job> make_job(int n = 1, int64_t max_tokens = 100) {
  auto j = std::make_shared<Job>();
  j->prompt_tokens = {'h', 'i'};
  j->n = n;
  j->max_tokens = max_tokens;
  j->sampling.temperature = 0.0f;  // greedy: the fake model's script
  return j;
}

// Waits for the job's Done/Failed; returns all its events.
std::vector<JobEvent> finish(Job& j, std::chrono::milliseconds limit = 5000ms) {
  std::vector<JobEvent> evs;
  const auto until = Clock::now() + limit;
  while (Clock::now() < until) {
    j.wait_events(evs, 20ms);
    if (!evs.empty() && evs.back().kind != JobEvent::Kind::Delta) return evs;
  }
  ADD_FAILURE() << "job did not finish";
  return evs;
}

struct Text {
  std::string reasoning, content;
  FinishReason finish = FinishReason::None;
};
Text text_of(const std::vector<JobEvent>& evs, int index = 0) {
  Text t;
  for (const auto& e : evs) {
    if (e.kind != JobEvent::Kind::Delta || e.delta.index != index) continue;
    t.reasoning += e.delta.reasoning_content;
    t.content += e.delta.content;
    if (e.delta.finish != FinishReason::None) t.finish = e.delta.finish;
  }
  return t;
}

TEST(Queue, RefusesWhenFullAndWhenClosed) {
  AdmissionQueue q(2);
  EXPECT_EQ(q.submit(make_job()), AdmissionQueue::Admit::Ok);
  auto cancelled = make_job();
  EXPECT_EQ(q.submit(cancelled), AdmissionQueue::Admit::Ok);
  EXPECT_EQ(q.submit(make_job()), AdmissionQueue::Admit::QueueFull);
  cancelled->cancel();  // a departed client no longer counts
  EXPECT_EQ(q.submit(make_job()), AdmissionQueue::Admit::Ok);
  q.close();
  EXPECT_EQ(q.submit(make_job()), AdmissionQueue::Admit::ShuttingDown);
}

TEST(Queue, TakesFifoWithinFreeSlotsAndDropsCancelled) {
  AdmissionQueue q(10);
  auto a = make_job(1), b = make_job(3), c = make_job(1), gone = make_job(1);
  gone->cancel();
  q.submit(gone);
  q.submit(a);
  q.submit(b);
  q.submit(c);
  auto t = q.take(2, 0ms);  // a fits, b (3) does not, and c must not overtake b
  ASSERT_EQ(t.size(), 1u);
  EXPECT_EQ(t[0], a);
  t = q.take(4, 0ms);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0], b);
  EXPECT_EQ(t[1], c);
  EXPECT_EQ(q.size(), 0u);
}

TEST(Queue, TakeWaitsForASubmit) {
  AdmissionQueue q(10);
  auto j = make_job();
  std::thread t([&] {
    std::this_thread::sleep_for(30ms);
    q.submit(j);
  });
  auto got = q.take(1, 60000ms);  // returns at the submit; the bound only guards a hang
  t.join();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0], j);
}

struct Harness {
  FakeBackend backend;
  AdmissionQueue queue;
  Metrics metrics;
  Batcher batcher;
  Harness(FakeBackend::Options o, int parallel, size_t max_queue = 64)
      : backend(std::move(o)), queue(max_queue), batcher(backend, queue, metrics, parallel) {
    batcher.start();
  }
};

TEST(Batcher, GeneratesScriptThenStopsOnEos) {
  FakeBackend::Options o;
  o.script = "Hello.";
  Harness h(o, 2);
  auto j = make_job();
  h.queue.submit(j);
  auto evs = finish(*j);
  Text t = text_of(evs);
  EXPECT_EQ(t.content, "Hello.");
  EXPECT_EQ(t.finish, FinishReason::Stop);
  ASSERT_EQ(evs.back().kind, JobEvent::Kind::Done);
  EXPECT_EQ(evs.back().usage.prompt_tokens, 2);
  EXPECT_EQ(evs.back().usage.completion_tokens, 7);  // 6 bytes + EOS
  EXPECT_EQ(evs.front().delta.role, true);          // chat: first delta carries the role
}

TEST(Batcher, LengthLimitStopStringAndReasoning) {
  FakeBackend::Options o;
  o.script = "reason</think>\n\nThe answer is 4. END more";
  Harness h(o, 4);
  auto len = make_job(1, 3);
  len->prompt_opens_think = true;
  auto stop = make_job(1, 100);
  stop->prompt_opens_think = true;
  stop->stop = {"END"};
  h.queue.submit(len);
  h.queue.submit(stop);
  auto a = finish(*len);
  EXPECT_EQ(text_of(a).reasoning, "rea");
  EXPECT_EQ(text_of(a).finish, FinishReason::Length);
  EXPECT_EQ(a.back().usage.completion_tokens, 3);
  EXPECT_EQ(a.back().usage.reasoning_tokens, 3);
  auto b = finish(*stop);
  Text t = text_of(b);
  EXPECT_EQ(t.reasoning, "reason");
  EXPECT_EQ(t.content, "The answer is 4. ");
  EXPECT_EQ(t.finish, FinishReason::Stop);
  // "reason" and the 8 bytes of "</think>" are reasoning tokens.
  EXPECT_EQ(b.back().usage.reasoning_tokens, 14);
}

// The server splits reasoning with the project's tok::ReasoningParser (DeepSeek-API newline
// stripping, a template-opened <think>, a re-emitted leading <think> dropped): what a client gets,
// streamed one token (byte) at a time, equals the parser's one-shot split of the whole output.
// reasoning_tokens counts the tokens generated while the block was open, the one completing
// </think> included (+ EOS when the block never closes).
TEST(Batcher, ReasoningSplitIsTheReasoningParsers) {
  struct Case {
    std::string script;
    bool opens;
    std::string reasoning, content;
    int64_t reasoning_tokens;
  };
  const Case cases[] = {
      {"\nstep 1 < 2\n\n</think>\n\nAnswer: 3", true, "step 1 < 2", "Answer: 3", 21},
      {"<think>\nre-emitted</think>ok", true, "re-emitted", "ok", 26},
      {"\n<think>\nhmm\n</think>\n\nok\n", false, "hmm", "ok\n", 13},
      {"plain <think> text", false, "", "plain <think> text", 0},
      {"still thinking </thi", true, "still thinking </thi", "", 21},
      {"a</think>b</think>", true, "a", "b</think>", 9},
  };
  for (const auto& c : cases) {
    const auto want = tok::ReasoningParser::parse(c.script, c.opens);
    ASSERT_EQ(want.reasoning, c.reasoning) << c.script;  // the parser's rules, spelled out
    ASSERT_EQ(want.content, c.content) << c.script;
    FakeBackend::Options o;
    o.script = c.script;
    Harness h(o, 1);
    auto j = make_job();
    j->prompt_opens_think = c.opens;
    h.queue.submit(j);
    auto evs = finish(*j);
    Text t = text_of(evs);
    EXPECT_EQ(t.reasoning, c.reasoning) << c.script;
    EXPECT_EQ(t.content, c.content) << c.script;
    EXPECT_EQ(evs.back().usage.reasoning_tokens, c.reasoning_tokens) << c.script;
    // A reasoning delta never follows a content delta.
    bool content_seen = false;
    for (const auto& e : evs) {
      if (e.kind != JobEvent::Kind::Delta) continue;
      EXPECT_FALSE(content_seen && !e.delta.reasoning_content.empty()) << c.script;
      content_seen |= !e.delta.content.empty();
    }
  }
}

TEST(Batcher, ConcurrentJobsShareDecodeSteps) {
  FakeBackend::Options o;
  o.script = std::string(20, 'x');
  o.step_delay = 2ms;
  Harness h(o, 4);
  std::vector<std::shared_ptr<Job>> jobs;
  for (int i = 0; i < 4; ++i) jobs.push_back(make_job());
  for (auto& j : jobs) h.queue.submit(j);
  for (auto& j : jobs) EXPECT_EQ(text_of(finish(*j)).content, std::string(20, 'x'));
  // Run one at a time this would take 4 * 21 steps; batched it takes about 21.
  EXPECT_LT(h.batcher.steps(), 2 * 21);
  EXPECT_GE(h.batcher.max_batch(), 2);
}

TEST(Batcher, ChoicesGetTheirOwnSeeds) {
  // Sampled (temperature 1) from the fake's distribution, choice i of a job with seed s must be
  // exactly what a one-choice job with seed s + i gets, and the three must differ.
  FakeBackend::Options o;
  o.script = std::string(40, 'a');
  Harness h(o, 4);
  auto sampled = [](int n, uint64_t seed) {
    auto j = make_job(n, 12);
    j->sampling.temperature = 1.0f;
    j->sampling.seed = seed;
    return j;
  };
  auto j = sampled(3, 10);
  h.queue.submit(j);
  auto evs = finish(*j);
  EXPECT_EQ(evs.back().usage.prompt_tokens, 2);
  std::vector<std::string> texts;
  for (int i = 0; i < 3; ++i) {
    auto one = sampled(1, 10 + static_cast<uint64_t>(i));
    h.queue.submit(one);
    texts.push_back(text_of(evs, i).content);
    EXPECT_EQ(texts.back(), text_of(finish(*one), 0).content) << "choice " << i;
  }
  EXPECT_NE(texts[0], texts[1]);
  EXPECT_NE(texts[1], texts[2]);
}

TEST(Batcher, ReusesAPooledPromptPrefix) {
  FakeBackend::Options o;
  o.script = "ok";
  o.max_pooled_sessions = 2;
  Harness h(o, 2);
  auto a = make_job();
  a->prompt_tokens = {'s', 'y', 's', ':', 'q', '1'};
  h.queue.submit(a);
  EXPECT_EQ(text_of(finish(*a)).content, "ok");
  auto b = make_job();
  b->prompt_tokens = {'s', 'y', 's', ':', 'q', '2'};
  h.queue.submit(b);
  EXPECT_EQ(text_of(finish(*b)).content, "ok");
  EXPECT_EQ(h.batcher.reused_prompt_tokens(), 5);  // "sys:q" came from a's cache
}

TEST(Batcher, CancelledJobFreesItsSlotAtOnce) {
  FakeBackend::Options o;
  o.script = std::string(100000, 'y');
  o.step_delay = 1ms;
  Harness h(o, 1);
  auto hog = make_job(1, 1000000);
  auto next = make_job(1, 5);
  h.queue.submit(hog);
  h.queue.submit(next);
  std::vector<JobEvent> evs;
  ASSERT_TRUE(hog->wait_events(evs, 2000ms));  // hog is decoding; next waits for the only slot
  EXPECT_EQ(h.queue.size(), 1u);
  hog->cancel();
  auto done = finish(*next, 2000ms);
  EXPECT_EQ(text_of(done).content, "yyyyy");
  EXPECT_TRUE(h.batcher.wait_idle(2000ms));
  EXPECT_EQ(h.backend.live_sequences(), 0);
}

TEST(Batcher, StopFailsInFlightAndQueuedJobs) {
  FakeBackend::Options o;
  o.script = std::string(100000, 'z');
  o.step_delay = 1ms;
  auto h = std::make_unique<Harness>(o, 1);
  auto a = make_job(1, 1000000), b = make_job();
  h->queue.submit(a);
  h->queue.submit(b);
  std::vector<JobEvent> evs;
  ASSERT_TRUE(a->wait_events(evs, 2000ms));
  h->queue.close();
  h->batcher.stop();
  for (auto* j : {a.get(), b.get()}) {
    auto e = finish(*j, 1000ms);
    ASSERT_EQ(e.back().kind, JobEvent::Kind::Failed);
    EXPECT_EQ(e.back().error.status, 503);
  }
}

TEST(Batcher, MetricsCountTokensAndTtft) {
  FakeBackend::Options o;
  o.script = "abc";
  Harness h(o, 2);
  auto j = make_job();
  h.queue.submit(j);
  finish(*j);
  EXPECT_EQ(h.metrics.generation_tokens(), 4);
  const std::string text = h.metrics.render(2);
  EXPECT_NE(text.find("r1_generation_tokens_total 4"), std::string::npos) << text;
  EXPECT_NE(text.find("r1_prompt_tokens_total 2"), std::string::npos);
  EXPECT_NE(text.find("r1_time_to_first_token_seconds_count 1"), std::string::npos);
  EXPECT_NE(text.find("r1_slots 2"), std::string::npos);
}

}  // namespace
}  // namespace r1::server
