// Deterministic fake model for server tests (see fake_backend.h).
#include "server/fake_backend.h"

#include <cmath>
#include <thread>

#include "engine/thinking_budget.h"

namespace r1::server {
namespace {

class FakeSequence : public Sequence {
 public:
  FakeSequence(std::string script, int64_t n_prompt, int top_logprobs,
               std::shared_ptr<std::atomic<int>> live)
      : script_(std::move(script)), pending_(n_prompt), top_k_(top_logprobs), live_(std::move(live)) {
    ++*live_;
  }
  ~FakeSequence() override { --*live_; }
  int64_t n_past() const override { return n_past_; }

  int32_t advance() {
    n_past_ += pending_;
    pending_ = 1;
    const int32_t mode = pos_ >= script_.size() ? FakeBackend::kEos
                                                : static_cast<unsigned char>(script_[pos_]);
    const int32_t forced = take_forced();
    const int32_t id = forced >= 0 ? forced : mode;
    if (forced < 0 && pos_ < script_.size()) ++pos_;
    if (top_k_ >= 0) {
      // log p(mode + j) = -(j + 1) log 2 over the 257 ids, j the distance past the mode.
      auto lp = [&](int32_t t) {
        const int32_t j = (t - mode + FakeBackend::kEos + 1) % (FakeBackend::kEos + 1);
        return -static_cast<float>(j + 1) * std::log(2.0f);
      };
      logprob = lp(id);
      top_logprobs.clear();
      for (int32_t j = 0; j < top_k_; ++j) {
        const int32_t t = (mode + j) % (FakeBackend::kEos + 1);
        top_logprobs.push_back({t, lp(t)});
      }
    }
    return id;
  }

 private:
  std::string script_;
  size_t pos_ = 0;
  int64_t pending_;  // tokens to feed on the next step (the prompt first, then 1)
  int top_k_;        // < 0: no log-probs
  int64_t n_past_ = 0;
  std::shared_ptr<std::atomic<int>> live_;
};

class ByteDetokenizer : public Detokenizer {
 public:
  std::string push(int32_t id) override {
    if (id < 0 || id > 255) return {};
    return std::string(1, static_cast<char>(id));
  }
  std::string flush() override { return {}; }
};

}  // namespace

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

std::string FakeBackend::token_bytes(int32_t id) const {
  if (id < 0 || id > 255) return {};
  return std::string(1, static_cast<char>(id));
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

std::unique_ptr<Detokenizer> FakeBackend::new_detokenizer() const {
  return std::make_unique<ByteDetokenizer>();
}

std::unique_ptr<Sequence> FakeBackend::new_sequence(std::span<const int32_t> prompt,
                                                    const SamplingParams& sampling) {
  std::string script = opts_.script;
  const std::string key = "{seed}";
  if (auto pos = script.find(key); pos != std::string::npos) {
    script.replace(pos, key.size(), std::to_string(sampling.seed));
  }
  return std::make_unique<FakeSequence>(std::move(script), static_cast<int64_t>(prompt.size()),
                                        sampling.top_logprobs, live_);
}

void FakeBackend::step(std::span<Sequence* const> seqs, std::span<int32_t> next) {
  if (opts_.step_delay.count() > 0) std::this_thread::sleep_for(opts_.step_delay);
  for (size_t i = 0; i < seqs.size(); ++i) next[i] = static_cast<FakeSequence*>(seqs[i])->advance();
}

}  // namespace r1::server
