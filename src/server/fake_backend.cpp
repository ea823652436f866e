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
  }
  std::vector<int32_t> fed;
  std::vector<size_t> pos_at;  // script position after each fed token

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
  void forward(std::span<const int32_t> tokens, models::Session& s, float* logits,
               bool all_logits) override {
    R1_CHECK(!all_logits, "the fake model gives the last position's logits only");
    pause();
    auto& ss = dynamic_cast<ScriptSession&>(s);
    for (const int32_t t : tokens) feed(ss, t, /*prompt=*/true);
    write_logits(ss, logits);
  }
  void forward_batch(std::span<const int32_t> tokens, std::span<models::Session* const> sessions,
                     float* logits) override {
    pause();
    for (size_t b = 0; b < tokens.size(); ++b) {
      auto& ss = dynamic_cast<ScriptSession&>(*sessions[b]);
      feed(ss, tokens[b], /*prompt=*/false);
      write_logits(ss, logits + static_cast<int64_t>(b) * info_.vocab_size);
    }
  }

 private:
  void pause() const {
    if (delay_.count() > 0) std::this_thread::sleep_for(delay_);
  }
  void feed(ScriptSession& s, int32_t t, bool prompt) const {
    R1_CHECK(s.n_past() < s.n_ctx(), "past the context ({})", s.n_ctx());
    R1_CHECK(t >= 0 && t <= kEos, "token {} outside the vocabulary", t);
    size_t pos = prompt || s.pos_at.empty() ? 0 : s.pos_at.back();
    if (!prompt && pos < script_.size() && t == static_cast<unsigned char>(script_[pos])) ++pos;
    s.fed.push_back(t);
    s.pos_at.push_back(pos);
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
