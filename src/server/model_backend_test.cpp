// The batcher over a real model (ModelBackend on tiny random llama and deepseek_v3 checkpoints
// built here, so it never skips): 8 concurrent greedy requests decoded together with
// --parallel 8 give byte-identical text to the same requests run one at a time, and prompts that
// share a prefix reuse the pooled KV cache without changing a token.
#include <gtest/gtest.h>

#include <chrono>

#include "core/test_util.h"
#include "engine/test_util.h"
#include "models/init_model.h"
#include "server/batcher.h"
#include "server/model_backend.h"

namespace r1::server {
namespace {

using namespace std::chrono_literals;

struct Outcome {
  std::vector<std::string> texts;
  std::vector<int64_t> tokens;
  int max_batch = 0;
  int64_t reused = 0;
  double seconds = 0;
};

Outcome serve_all(models::CausalLM& lm, const tok::Tokenizer& tok, int parallel,
                  const std::vector<std::vector<int32_t>>& prompts) {
  ModelBackend::Options bo;
  bo.n_ctx = 64;
  bo.max_pooled_sessions = parallel;
  auto backend = ModelBackend::create(lm, tok, std::nullopt, {1}, engine::SamplerOptions{}, bo);
  R1_CHECK(backend.ok(), "{}", backend.message());
  AdmissionQueue queue(64);
  Metrics metrics;
  Batcher batcher(**backend, queue, metrics, parallel);
  batcher.start();
  std::vector<std::shared_ptr<Job>> jobs;
  const auto t0 = std::chrono::steady_clock::now();
  for (const auto& p : prompts) {
    auto j = std::make_shared<Job>();
    j->kind = GenerationRequest::Kind::Completion;
    j->prompt_tokens = p;
    j->max_tokens = 12;
    j->sampling.temperature = 0.0f;
    jobs.push_back(j);
    queue.submit(j);
  }
  Outcome out;
  for (auto& j : jobs) {
    std::vector<JobEvent> evs;
    const auto until = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < until &&
           (evs.empty() || evs.back().kind == JobEvent::Kind::Delta))
      j->wait_events(evs, 20ms);
    std::string text;
    for (const auto& e : evs) text += e.delta.content;
    EXPECT_EQ(evs.back().kind, JobEvent::Kind::Done);
    out.texts.push_back(text);
    out.tokens.push_back(evs.back().usage.completion_tokens);
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out.max_batch = batcher.max_batch();
  out.reused = batcher.reused_prompt_tokens();
  return out;
}

void concurrent_equals_one_at_a_time(const std::string& arch) {
  test::TempDir tmp;
  ThreadPool pool(2);
  const std::string dir = tmp.file("model");
  if (arch == "deepseek_v3") {
    ASSERT_TRUE(models::write_random_deepseek_v3(test::tiny_deepseek_v3_config(256), dir, 3).ok());
  } else {
    auto preset = models::find_preset(arch);
    ASSERT_TRUE(preset.has_value());
    ASSERT_TRUE(models::write_random_model(*preset, dir, 3, DType::F32, pool).ok());
  }
  auto lm = models::load_model(dir, {}, pool);
  ASSERT_TRUE(lm.ok()) << lm.message();
  auto tok = test::byte_tokenizer();
  std::vector<std::vector<int32_t>> prompts;
  for (int i = 0; i < 8; ++i) {
    std::vector<int32_t> p = {5, 9, 2};  // a shared prefix, then something of its own
    for (int k = 0; k <= i % 3; ++k) p.push_back(20 + 7 * i + k);
    prompts.push_back(p);
  }
  const Outcome one = serve_all(**lm, *tok, 1, prompts);
  const Outcome eight = serve_all(**lm, *tok, 8, prompts);
  EXPECT_EQ(one.max_batch, 1);
  EXPECT_GE(eight.max_batch, 4);
  EXPECT_GT(one.reused, 0);  // one at a time, later prompts find "5 9 2" in the pool
  // The prompts lead to different continuations, so equality below says something.
  EXPECT_NE(one.texts[0], one.texts[1]);
  EXPECT_NE(one.texts[1], one.texts[2]);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(eight.texts[i], one.texts[i]) << arch << " request " << i;
    EXPECT_EQ(eight.tokens[i], 12) << arch << " request " << i;
    EXPECT_EQ(one.tokens[i], 12) << arch << " request " << i;
  }
  std::printf("[ %s ] 8 greedy requests: %.3f s with --parallel 1, %.3f s with --parallel 8\n",
              arch.c_str(), one.seconds, eight.seconds);
}

TEST(ModelBackend, ConcurrentGreedyEqualsOneAtATimeLlama) { concurrent_equals_one_at_a_time("llama-tiny"); }
TEST(ModelBackend, ConcurrentGreedyEqualsOneAtATimeDeepseekV3) {
  concurrent_equals_one_at_a_time("deepseek_v3");
}

}  // namespace
}  // namespace r1::server
