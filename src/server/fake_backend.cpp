// Deterministic fake model for server tests (see fake_backend.h).
#include "server/fake_backend.h"

#include <cmath>
#include <thread>

#include "core/check.h"
#include "engine/test_util.h"
#include "engine/thinking_budget.h"

namespace r1::server {
namespace {

class ScriptSession : public models::Session {
 public:
  ScriptSession(int64_t n_ctx, std::shared_ptr<std::atomic<int>> live)
      : n_ctx_(n_ctx), live_(std::move(live)) {
    ++*live_;
  }
  ~ScriptSession() override { --*live_; }
  int64_t n_past() const override { return static_cast<int64_t>(fed.size()); }
  int64_t n_ctx() const override { return n_ctx_; }
  void truncate(int64_t n) override {
    R1_CHECK(n >= 0 && n <= n_past(), "truncate to {} of {}", n, n_past());
    fed.resize(static_cast<size_t>(n));
    pos_at.resize(static_cast<size_t>(n));
    had_logits.resize(static_cast<size_t>(n));
  }
  std::vector<int32_t> fed;
  std::vector<size_t> pos_at;  // script position after each fed token
  std::vector<bool> had_logits;  // whether each fed token's logits were asked for

 private:
  int64_t n_ctx_;
  std::shared_ptr<std::atomic<int>> live_;
};

}  // namespace

class FakeBackend::ScriptLM : public models::CausalLM {
 public:
  ScriptLM(const Options& o, std::shared_ptr<std::atomic<int>> live)
      : script_(o.script), delay_(o.step_delay), live_(std::move(live)) {
    info_.arch = "fake";
    info_.name = o.model_id;
    info_.vocab_size = kEos + 1;
    info_.max_position_embeddings = o.n_ctx;
    info_.eos_token_ids = {kEos};
  }
  const models::ModelInfo& info() const override { return info_; }
  std::unique_ptr<models::Session> new_session(int64_t n_ctx) override {
    return std::make_unique<ScriptSession>(n_ctx > 0 ? n_ctx : info_.max_position_embeddings, live_);
  }
  // A sequence's rows are decode steps when it has one row that wants logits and the token
  // before it wanted logits too (it was sampled from them); other rows are prompt (chunks).
  float* forward(const models::Batch& batch, models::ForwardContext& ctx) override {
    pause();
    const auto spans = models::split_batch(batch, info_.vocab_size);
    int64_t j = 0;  // logits row
    for (const auto& sp : spans) {
      auto& ss = dynamic_cast<ScriptSession&>(*sp.session);
      const bool decode = sp.T == 1 && (batch.out[size_t(sp.row0)] & models::Batch::kLogits) &&
                          !ss.had_logits.empty() && ss.had_logits.back();
      for (int64_t r = sp.row0; r < sp.row0 + sp.T; ++r) {
        const bool want = batch.out[size_t(r)] & models::Batch::kLogits;
        feed(ss, batch.tokens[size_t(r)], !decode, want);
        if (want && ctx.logits != nullptr) write_logits(ss, ctx.logits + j++ * info_.vocab_size);
      }
    }
    return ctx.logits;
  }

 private:
  void pause() const {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
  }
  void feed(ScriptSession& s, int32_t t, bool prompt, bool logits) const {
    R1_CHECK(s.n_past() < s.n_ctx(), "past the context ({})", s.n_ctx());
    R1_CHECK(t >= 0 && t <= kEos, "token {} outside the vocabulary", t);
    size_t pos = prompt || s.pos_at.empty() ? 0 : s.pos_at.back();
    if (!prompt && pos < script_.size() && t == static_cast<unsigned char>(script_[pos])) ++pos;
    s.fed.push_back(t);
    s.pos_at.push_back(pos);
    s.had_logits.push_back(logits);
  }
  // log p(mode + j) = -(j + 1) log 2 over the 257 ids, j the distance past the mode (the sum
  // falls short of 1 by 2^-257, far below f32 resolution).
  void write_logits(const ScriptSession& s, float* logits) const {
    const size_t pos = s.pos_at.empty() ? 0 : s.pos_at.back();
    const int32_t mode = pos >= script_.size() ? kEos : static_cast<unsigned char>(script_[pos]);
    for (int32_t t = 0; t <= kEos; ++t) {
      const int32_t j = (t - mode + kEos + 1) % (kEos + 1);
      logits[t] = -static_cast<float>(j + 1) * std::log(2.0f);
    }
  }

  models::ModelInfo info_;
  std::string script_;
  std::chrono::milliseconds delay_;
  std::shared_ptr<std::atomic<int>> live_;
};

FakeBackend::FakeBackend(Options opts)
    : opts_(std::move(opts)), tok_(test::byte_tokenizer()),
      lm_(std::make_unique<ScriptLM>(opts_, live_)) {}

FakeBackend::~FakeBackend() = default;

models::CausalLM& FakeBackend::model() { return *lm_; }

SamplingParams FakeBackend::default_sampling() const {
  SamplingParams p;
  p.temperature = 0.0f;
  return p;
}

ApiResult<std::string> FakeBackend::render_chat(const std::vector<ChatMessage>& messages,
                                               const nlohmann::ordered_json& kwargs) const {
  std::string s;
  for (const auto& m : messages) s += "<|" + m.role + "|>" + m.content + "\n";
  s += "<|assistant|>";
  const auto thinking = kwargs.find("enable_thinking");
  const bool enable = thinking == kwargs.end() || !thinking->is_boolean() || thinking->get<bool>();
  if (opts_.template_opens_think) s += enable ? "<think>\n" : "<think>\n\n</think>\n\n";
  return s;
}

std::vector<int32_t> FakeBackend::think_end_tokens() const {
  return tokenize(engine::kThinkEndText, false);
}

std::vector<int32_t> FakeBackend::tokenize(std::string_view text, bool) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size());
  for (char c : text) ids.push_back(static_cast<unsigned char>(c));
  return ids;
}

}  // namespace r1::server
