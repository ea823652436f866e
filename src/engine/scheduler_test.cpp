// The scheduler: finish reasons, streaming and cache reuse on a scripted fake model whose logits
// at position p make token script[p] certain (and NaN where told), with a real byte-level BPE
// tokenizer trained in the fixture for the text side; and continuous batching on tiny random
// real models (llama, qwen2, deepseek_v3): sequences joining mid-flight produce exactly what they
// produce alone, greedy and seeded.
#include "engine/scheduler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/check.h"
#include "core/test_util.h"
#include "engine/test_util.h"
#include "models/init_model.h"
#include "tokenizer/bpe_trainer.h"

namespace r1::engine {
namespace {

class FakeSession : public models::Session {
 public:
  explicit FakeSession(int64_t n_ctx) : n_ctx_(n_ctx) {}
  int64_t n_past() const override { return n_past_; }
  int64_t n_ctx() const override { return n_ctx_; }
  void truncate(int64_t n) override {
    R1_CHECK(n <= n_past_);
    n_past_ = n;
  }
  int64_t n_past_ = 0;
  int64_t n_ctx_;
};

// The prediction after position p is next_[p] (or EOS past the end of the script).
class FakeLM : public models::CausalLM {
 public:
  FakeLM(int64_t V, std::vector<int32_t> next, int32_t eos) : next_(std::move(next)), eos_(eos) {
    info_.vocab_size = V;
    info_.max_position_embeddings = 256;
  }
  const models::ModelInfo& info() const override { return info_; }
  std::unique_ptr<models::Session> new_session(int64_t n_ctx) override {
    return std::make_unique<FakeSession>(n_ctx > 0 ? n_ctx : 256);
  }
  float* forward(const models::Batch& batch, models::ForwardContext& ctx) override {
    const auto spans = models::split_batch(batch, info_.vocab_size);
    max_rows = std::max(max_rows, batch.size());
    float* logits = ctx.logits;
    for (const auto& sp : spans) {
      auto& fs = dynamic_cast<FakeSession&>(*sp.session);
      fs.n_past_ += sp.T;
      forwarded += sp.T;
      for (int64_t r = sp.row0; r < sp.row0 + sp.T; ++r) {
        if (!(batch.out[size_t(r)] & models::Batch::kLogits)) continue;
        const int64_t p = batch.pos[size_t(r)];
        const int32_t target = p < static_cast<int64_t>(next_.size()) ? next_[p] : eos_;
        for (int64_t v = 0; v < info_.vocab_size; ++v) logits[v] = v == target ? 20.0f : 0.0f;
        if (p == nan_at) logits[3] = std::numeric_limits<float>::quiet_NaN();
        logits += info_.vocab_size;
      }
    }
    return ctx.logits;
  }
  int64_t forwarded = 0;
  int64_t max_rows = 0;  // most rows one forward carried
  int64_t nan_at = -1;

 private:
  models::ModelInfo info_;
  std::vector<int32_t> next_;
  int32_t eos_;
};

class SchedulerFake : public ::testing::Test {
 protected:
  // Text of ids as a continuation: the tokens' bytes concatenated (decode() would drop the
  // SentencePiece leading space of a sequence start, which a continuation keeps).
  std::string continuation(std::span<const int32_t> ids) const {
    std::string s;
    for (int32_t id : ids) s += tok_->token_bytes(id);
    return s;
  }

  void SetUp() override {
    // A byte-level BPE trained here (needs nothing from ../shared): BOS/EOS are special tokens,
    // "Hello" and "Once" differ in their first token, so the cache tests see a BOS-only prefix.
    tok::BpeTrainerOptions bo;
    bo.vocab_size = 300;
    bo.bos_token = "<s>";
    bo.eos_token = "</s>";
    std::vector<std::string> corpus;
    for (int i = 0; i < 8; ++i) corpus.push_back("Once upon a time Lily was happy. The end. Hello");
    auto trained = tok::train_bpe(corpus, bo);
    ASSERT_TRUE(trained.ok()) << trained.message();
    std::ofstream(dir_.file("tokenizer.json")) << trained->tokenizer_json;
    std::ofstream(dir_.file("tokenizer_config.json")) << trained->tokenizer_config_json;
    auto t = tok::Tokenizer::from_path(dir_.path());
    ASSERT_TRUE(t.ok()) << t.message();
    tok_ = std::move(t.value());
    prompt_ = tok_->encode("Once upon a time", true);
    reply_ = tok_->encode(" Lily was happy. The end", false);
    // Positions 0..P-2 predict the prompt (unused); P-1.. predict the reply.
    std::vector<int32_t> next(prompt_.size() - 1, 0);
    next.insert(next.end(), reply_.begin(), reply_.end());
    model_ = std::make_unique<FakeLM>(tok_->vocab_size(), next, tok_->eos_id());
    opts_.sampling.temperature = 0.0f;
    opts_.eos_ids = {tok_->eos_id()};
  }
  // A scheduler whose sessions hold n_ctx tokens, keeping one finished session for reuse.
  std::unique_ptr<Scheduler> session(int64_t n_ctx) {
    SchedulerOptions so;
    so.n_ctx = n_ctx;
    so.max_pooled_sessions = 1;
    return std::make_unique<Scheduler>(*model_, *tok_, so);
  }

  test::TempDir dir_;
  std::unique_ptr<tok::Tokenizer> tok_;
  std::vector<int32_t> prompt_, reply_;
  std::unique_ptr<FakeLM> model_;
  GenerateOptions opts_;
};

TEST_F(SchedulerFake, StopsAtEosAndStreamsEverything) {
  auto cs = session(64);
  std::string streamed;
  std::vector<int32_t> ids;
  bool final_call = false;
  auto r = cs->generate(prompt_, opts_, [&](std::string_view t, int32_t id) {
    streamed += t;
    if (id >= 0) ids.push_back(id);
    else final_call = true;
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.message();
  std::vector<int32_t> want = reply_;
  want.push_back(tok_->eos_id());
  EXPECT_EQ(r->tokens, want);  // the EOS id is kept, its text is not emitted
  EXPECT_EQ(r->finish_reason, FinishReason::Stop);
  EXPECT_EQ(r->text, continuation(reply_));
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(ids, reply_);  // callbacks for generated text tokens; EOS only ends the stream
  EXPECT_TRUE(final_call);
  EXPECT_EQ(r->prompt_tokens, static_cast<int64_t>(prompt_.size()));
  // Prefill once, then one decode step per token but the last.
  EXPECT_EQ(model_->forwarded, static_cast<int64_t>(prompt_.size() + want.size() - 1));
  EXPECT_EQ(r->decode_steps, static_cast<int64_t>(want.size() - 1));
}

// A prompt longer than the step budget is prefilled in chunks (no forward carries more rows
// than step_tokens) and gives the same reply.
TEST_F(SchedulerFake, ChunkedPrefillKeepsTheStepBudget) {
  SchedulerOptions so;
  so.step_tokens = 2;
  Scheduler sched(*model_, *tok_, so);
  ASSERT_GT(prompt_.size(), 2u);
  auto r = sched.generate(prompt_, opts_);
  ASSERT_TRUE(r.ok()) << r.message();
  std::vector<int32_t> want = reply_;
  want.push_back(tok_->eos_id());
  EXPECT_EQ(r->tokens, want);
  EXPECT_EQ(model_->max_rows, 2);
  EXPECT_EQ(model_->forwarded, static_cast<int64_t>(prompt_.size() + want.size() - 1));
}

TEST_F(SchedulerFake, StopStringCutsText) {
  auto cs = session(64);
  opts_.stop = {"happy"};
  std::string streamed;
  auto r = cs->generate(prompt_, opts_, [&](std::string_view t, int32_t) {
    streamed += t;
    return true;
  });
  ASSERT_TRUE(r.ok());
  const std::string full = continuation(reply_);
  EXPECT_EQ(r->text, full.substr(0, full.find("happy")));
  EXPECT_EQ(streamed, r->text);
  EXPECT_EQ(r->finish_reason, FinishReason::Stop);
  EXPECT_EQ(r->stop_index, 0);
}

TEST_F(SchedulerFake, MaxTokensAndContextGiveLength) {
  auto cs = session(64);
  opts_.max_tokens = 3;
  auto r = cs->generate(prompt_, opts_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::Length);
  EXPECT_EQ(r->tokens.size(), 3u);

  opts_.max_tokens = -1;
  auto small = session(static_cast<int64_t>(prompt_.size()) + 2);
  auto r2 = small->generate(prompt_, opts_);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->finish_reason, FinishReason::Length);
  EXPECT_EQ(r2->tokens.size(), 2u);  // prompt + generated == n_ctx, never past it
}

TEST_F(SchedulerFake, PromptTooLongFailsBeforeAnyCompute) {
  auto cs = session(static_cast<int64_t>(prompt_.size()));
  auto r = cs->generate(prompt_, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("context holds"), std::string::npos) << r.message();
  EXPECT_EQ(model_->forwarded, 0);
  EXPECT_FALSE(cs->generate(std::vector<int32_t>{}, opts_).ok());
}

TEST_F(SchedulerFake, NonFiniteLogitsEndWithError) {
  model_->nan_at = static_cast<int64_t>(prompt_.size()) + 1;  // after two generated tokens
  auto cs = session(64);
  auto r = cs->generate(prompt_, opts_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::Error);
  EXPECT_STREQ(finish_reason_name(r->finish_reason), "error");
  EXPECT_NE(r->error.find("NaN"), std::string::npos) << r->error;
  EXPECT_EQ(r->tokens.size(), 2u);
  EXPECT_EQ(r->text, continuation(std::span<const int32_t>(reply_).first(2)));
}

TEST_F(SchedulerFake, CancelFromCallback) {
  auto cs = session(64);
  int calls = 0;
  auto r = cs->generate(prompt_, opts_, [&](std::string_view, int32_t id) {
    return id < 0 || ++calls < 2;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(r->tokens.size(), 2u);
}

TEST_F(SchedulerFake, ReusesCachedPrefix) {
  auto cs = session(64);
  opts_.max_tokens = 2;
  auto r1 = cs->generate(prompt_, opts_);
  ASSERT_TRUE(r1.ok());
  EXPECT_EQ(r1->cached_tokens, 0);
  // The pooled cache holds the prompt and the first generated token (the second was never fed).
  std::vector<int32_t> longer = prompt_;
  longer.insert(longer.end(), r1->tokens.begin(), r1->tokens.end());
  const int64_t before = model_->forwarded;
  auto r2 = cs->generate(longer, opts_);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->cached_tokens, static_cast<int64_t>(prompt_.size() + 1));
  // Prefill computed only the one new token, then one decode step.
  EXPECT_EQ(model_->forwarded - before, 1 + 1);
  // A different prompt truncates the cache to the common prefix (here: BOS only).
  auto r3 = cs->generate(tok_->encode("Hello", true), opts_);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->cached_tokens, 1);
  EXPECT_EQ(cs->reused_prompt_tokens(), static_cast<int64_t>(prompt_.size() + 1) + 1);
}

TEST_F(SchedulerFake, CancelByIdLeavesTheOthersAlone) {
  auto sched = session(64);
  std::vector<SeqId> ids;
  bool final_call = false;
  for (int i = 0; i < 2; ++i) {
    SequenceRequest req;
    req.prompt = prompt_;
    req.opts = opts_;
    if (i == 0) req.stream = [&](std::string_view, int32_t id) { final_call |= id < 0; return true; };
    auto id = sched->add(std::move(req));
    ASSERT_TRUE(id.ok()) << id.message();
    ids.push_back(*id);
  }
  sched->step();
  sched->step();
  EXPECT_EQ(sched->running(), 2);
  sched->cancel(ids[0]);
  EXPECT_TRUE(final_call);  // held text flushed through the callback
  EXPECT_EQ(sched->running(), 1);
  sched->run();
  const GenerateResult a = sched->take(ids[0]), b = sched->take(ids[1]);
  EXPECT_EQ(a.finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(a.tokens.size(), 2u);
  EXPECT_EQ(b.finish_reason, FinishReason::Stop);
  EXPECT_EQ(b.tokens.size(), reply_.size() + 1);
  // A waiting sequence can be cancelled too, before any compute.
  auto sched2 = session(64);
  auto w = sched2->add({prompt_, opts_, {}});
  ASSERT_TRUE(w.ok());
  const int64_t before = model_->forwarded;
  sched2->cancel(*w);
  EXPECT_TRUE(sched2->idle());
  EXPECT_EQ(sched2->take(*w).finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(model_->forwarded, before);
}

TEST_F(SchedulerFake, MaxRunningMakesTheRestWait) {
  SchedulerOptions so;
  so.n_ctx = 64;
  so.max_running = 1;
  Scheduler sched(*model_, *tok_, so);
  auto a = sched.add({prompt_, opts_, {}});
  auto b = sched.add({prompt_, opts_, {}});
  ASSERT_TRUE(a.ok() && b.ok());
  sched.step();
  EXPECT_EQ(sched.running(), 1);
  EXPECT_EQ(sched.waiting(), 1);
  sched.run();
  EXPECT_EQ(sched.max_batch(), 1);
  EXPECT_EQ(sched.take(*a).tokens, sched.take(*b).tokens);
}

// ---- Continuous batching on real architectures (tiny random weights built here). ----

// step_tokens > 0: a token budget per step small enough that the 5-token prompt is prefilled
// in chunks inside the steps that decode the others (chunked prefill).
void joining_mid_flight_matches_alone(const std::string& arch, int64_t step_tokens = 0) {
  test::TempDir tmp;
  ThreadPool pool(2);
  const std::string dir = tmp.file("model");
  if (arch == "deepseek_v3") {
    auto w = models::write_random_deepseek_v3(test::tiny_deepseek_v3_config(256), dir, 7);
    ASSERT_TRUE(w.ok()) << w.message();
  } else {
    auto preset = models::find_preset(arch);
    ASSERT_TRUE(preset.has_value());
    auto w = models::write_random_model(*preset, dir, 7, DType::F32, pool);
    ASSERT_TRUE(w.ok()) << w.message();
  }
  auto lm = models::load_model(dir, {}, pool);
  ASSERT_TRUE(lm.ok()) << lm.message();
  auto tok = test::byte_tokenizer();

  const std::vector<std::vector<int32_t>> prompts = {{5, 9, 2}, {7, 3}, {5, 9, 2, 4, 8}, {11}};
  std::vector<GenerateOptions> opts(prompts.size());
  for (size_t i = 0; i < opts.size(); ++i) {
    opts[i].max_tokens = 6 + int64_t(i);
    opts[i].sampling.temperature = i % 2 ? 0.0f : 1.5f;  // greedy and seeded sampling
    opts[i].sampling.seed = 100 + i;
    opts[i].sampling_logprobs = true;
    opts[i].top_logprobs = 2;
  }
  std::vector<GenerateResult> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Scheduler one(**lm, *tok);
    auto r = one.generate(prompts[i], opts[i]);
    ASSERT_TRUE(r.ok()) << r.message();
    alone.push_back(std::move(r.value()));
  }
  // Together: the first runs two steps alone, the second joins, then the last two; at most three
  // decode at once, so the fourth waits for a slot.
  SchedulerOptions so;
  so.max_running = 3;
  so.step_tokens = step_tokens;
  Scheduler sched(**lm, *tok, so);
  std::vector<SeqId> ids;
  auto add = [&](size_t i) {
    auto id = sched.add({prompts[i], opts[i], {}});
    R1_CHECK(id.ok(), "{}", id.message());
    ids.push_back(*id);
  };
  add(0);
  sched.step();
  sched.step();
  add(1);
  sched.step();
  add(2);
  add(3);
  sched.run();
  EXPECT_EQ(sched.max_batch(), 3);
  for (size_t i = 0; i < prompts.size(); ++i) {
    const GenerateResult r = sched.take(ids[i]);
    EXPECT_EQ(r.tokens, alone[i].tokens) << arch << " sequence " << i;
    EXPECT_EQ(r.finish_reason, FinishReason::Length);
    ASSERT_EQ(r.sampling_logprobs.size(), r.tokens.size());
    ASSERT_EQ(r.top_logprobs.size(), r.tokens.size());
    for (size_t t = 0; t < r.tokens.size() && t < alone[i].tokens.size(); ++t) {
      // Batched and single-sequence forwards differ only in summation order.
      EXPECT_NEAR(r.sampling_logprobs[t], alone[i].sampling_logprobs[t], 1e-4) << arch << " " << i;
      EXPECT_NEAR(r.token_logprobs[t], alone[i].token_logprobs[t], 1e-4) << arch << " " << i;
    }
  }
}

TEST(SchedulerBatching, JoiningMidFlightMatchesAloneLlama) { joining_mid_flight_matches_alone("llama-tiny"); }
TEST(SchedulerBatching, JoiningMidFlightMatchesAloneQwen2) { joining_mid_flight_matches_alone("qwen2-tiny"); }
TEST(SchedulerBatching, JoiningMidFlightMatchesAloneDeepseekV3) {
  joining_mid_flight_matches_alone("deepseek_v3");
}
TEST(SchedulerBatching, ChunkedPrefillMatchesAloneLlama) { joining_mid_flight_matches_alone("llama-tiny", 3); }
TEST(SchedulerBatching, ChunkedPrefillMatchesAloneQwen3) { joining_mid_flight_matches_alone("qwen3-tiny", 3); }
TEST(SchedulerBatching, ChunkedPrefillMatchesAloneDeepseekV3) {
  joining_mid_flight_matches_alone("deepseek_v3", 3);
}

}  // namespace
}  // namespace r1::engine
