// generate(): the loop's finish reasons, streaming and cache reuse, on a scripted fake model whose
// logits at position p make token script[p] certain (and NaN where told), with a real byte-level
// BPE tokenizer trained in the fixture for the text side.
#include "engine/generate.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "core/check.h"
#include "core/test_util.h"
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
  void forward(std::span<const int32_t> tokens, models::Session& s, float* logits,
               bool all_logits) override {
    auto& fs = dynamic_cast<FakeSession&>(s);
    R1_CHECK(!all_logits);
    R1_CHECK(fs.n_past_ + static_cast<int64_t>(tokens.size()) <= fs.n_ctx_, "past the context");
    fs.n_past_ += static_cast<int64_t>(tokens.size());
    forwarded += static_cast<int64_t>(tokens.size());
    const int64_t p = fs.n_past_ - 1;
    const int32_t target = p < static_cast<int64_t>(next_.size()) ? next_[p] : eos_;
    for (int64_t v = 0; v < info_.vocab_size; ++v) logits[v] = v == target ? 20.0f : 0.0f;
    if (p == nan_at) logits[3] = std::numeric_limits<float>::quiet_NaN();
  }
  int64_t forwarded = 0;
  int64_t nan_at = -1;

 private:
  models::ModelInfo info_;
  std::vector<int32_t> next_;
  int32_t eos_;
};

class Generate : public ::testing::Test {
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
  CachedSession session(int64_t n_ctx) {
    CachedSession cs;
    cs.session = model_->new_session(n_ctx);
    return cs;
  }

  test::TempDir dir_;
  std::unique_ptr<tok::Tokenizer> tok_;
  std::vector<int32_t> prompt_, reply_;
  std::unique_ptr<FakeLM> model_;
  GenerateOptions opts_;
};

TEST_F(Generate, StopsAtEosAndStreamsEverything) {
  auto cs = session(64);
  std::string streamed;
  std::vector<int32_t> ids;
  bool final_call = false;
  auto r = generate(*model_, cs, *tok_, prompt_, opts_, [&](std::string_view t, int32_t id) {
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
  EXPECT_EQ(static_cast<int64_t>(cs.tokens.size()), cs.session->n_past());
}

TEST_F(Generate, StopStringCutsText) {
  auto cs = session(64);
  opts_.stop = {"happy"};
  std::string streamed;
  auto r = generate(*model_, cs, *tok_, prompt_, opts_, [&](std::string_view t, int32_t) {
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

TEST_F(Generate, MaxTokensAndContextGiveLength) {
  auto cs = session(64);
  opts_.max_tokens = 3;
  auto r = generate(*model_, cs, *tok_, prompt_, opts_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::Length);
  EXPECT_EQ(r->tokens.size(), 3u);

  opts_.max_tokens = -1;
  auto small = session(static_cast<int64_t>(prompt_.size()) + 2);
  auto r2 = generate(*model_, small, *tok_, prompt_, opts_);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->finish_reason, FinishReason::Length);
  EXPECT_EQ(r2->tokens.size(), 2u);  // prompt + generated == n_ctx, never past it
}

TEST_F(Generate, PromptTooLongFailsBeforeAnyCompute) {
  auto cs = session(static_cast<int64_t>(prompt_.size()));
  auto r = generate(*model_, cs, *tok_, prompt_, opts_);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("context holds"), std::string::npos) << r.message();
  EXPECT_EQ(model_->forwarded, 0);
  EXPECT_FALSE(generate(*model_, cs, *tok_, std::vector<int32_t>{}, opts_).ok());
}

TEST_F(Generate, NonFiniteLogitsEndWithError) {
  model_->nan_at = static_cast<int64_t>(prompt_.size()) + 1;  // after two generated tokens
  auto cs = session(64);
  auto r = generate(*model_, cs, *tok_, prompt_, opts_);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::Error);
  EXPECT_STREQ(finish_reason_name(r->finish_reason), "error");
  EXPECT_NE(r->error.find("NaN"), std::string::npos) << r->error;
  EXPECT_EQ(r->tokens.size(), 2u);
  EXPECT_EQ(r->text, continuation(std::span<const int32_t>(reply_).first(2)));
}

TEST_F(Generate, CancelFromCallback) {
  auto cs = session(64);
  int calls = 0;
  auto r = generate(*model_, cs, *tok_, prompt_, opts_, [&](std::string_view, int32_t id) {
    return id < 0 || ++calls < 2;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->finish_reason, FinishReason::Cancelled);
  EXPECT_EQ(r->tokens.size(), 2u);
}

TEST_F(Generate, ReusesCachedPrefix) {
  auto cs = session(64);
  opts_.max_tokens = 2;
  auto r1 = generate(*model_, cs, *tok_, prompt_, opts_);
  ASSERT_TRUE(r1.ok());
  // The cache holds the prompt and the first generated token (the second was never fed).
  ASSERT_EQ(cs.tokens.size(), prompt_.size() + 1);
  std::vector<int32_t> longer = prompt_;
  longer.insert(longer.end(), r1->tokens.begin(), r1->tokens.end());
  const int64_t before = model_->forwarded;
  auto r2 = generate(*model_, cs, *tok_, longer, opts_);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->cached_tokens, static_cast<int64_t>(prompt_.size() + 1));
  // Prefill computed only the one new token, then one decode step.
  EXPECT_EQ(model_->forwarded - before, 1 + 1);
  // A different prompt truncates the cache to the common prefix (here: BOS only).
  auto r3 = generate(*model_, cs, *tok_, tok_->encode("Hello", true), opts_);
  ASSERT_TRUE(r3.ok());
  EXPECT_EQ(r3->cached_tokens, 1);
  EXPECT_EQ(static_cast<int64_t>(cs.tokens.size()), cs.session->n_past());
}

}  // namespace
}  // namespace r1::engine
