// A deterministic stand-in model for testing the server without weights: byte-level tokens
// (id = byte, kEos = 256; test::byte_tokenizer (engine/test_util.h) for the text side), a trivial chat
// template, and a scripted models::CausalLM that the batcher's engine::Scheduler decodes like a
// real one. Its distribution after a context puts 1/2 on the script's next byte b and 2^-(j+1) on
// id b + j (mod 257), j = 1, 2, ...: greedy decoding writes the script, then EOS. Prompt rows of a
// forward (the script starts after them) and decode rows (a sequence's single row after a token
// whose logits were asked for: the scheduler's decode steps) are told apart per sequence; a decode
// token advances the script only when it is the byte predicted, so a forced token does not
// consume it. Optional delay per forward call to exercise queueing and
// cancellation.
#pragma once
#include <atomic>
#include <chrono>
#include <string>

#include "server/backend.h"

namespace r1::server {

class FakeBackend : public Backend {
 public:
  static constexpr int32_t kEos = 256;

  struct Options {
    std::string model_id = "fake-model";
    int64_t n_ctx = 256;
    /// What every sequence generates greedily (then EOS).
    std::string script = "Hello from the fake model.";
    /// Finished sessions kept for prefix reuse (engine::SchedulerOptions::max_pooled_sessions).
    int max_pooled_sessions = 0;
    /// Ends the rendered chat prompt with "<think>\n" like the R1 templates.
    bool template_opens_think = false;
    std::chrono::milliseconds step_delay{0};
  };

  explicit FakeBackend(Options opts);
  ~FakeBackend() override;

  const std::string& model_id() const override { return opts_.model_id; }
  int64_t n_ctx() const override { return opts_.n_ctx; }
  /// Greedy, so that requests without a temperature get the script.
  SamplingParams default_sampling() const override;
  /// "<|role|>content\n" per message, then "<|assistant|>" (+ "<think>\n" unless kwargs has
  /// enable_thinking: false, as Qwen3's template does).
  ApiResult<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                     const nlohmann::ordered_json& kwargs) const override;
  std::vector<int32_t> tokenize(std::string_view text, bool raw_prompt) const override;
  int32_t vocab_size() const override { return kEos + 1; }
  std::vector<int32_t> eos_ids() const override { return {kEos}; }
  std::vector<int32_t> think_end_tokens() const override;
  engine::SamplerOptions sampler_defaults() const override { return {}; }
  models::CausalLM& model() override;
  const tok::Tokenizer& tokenizer() const override { return *tok_; }
  int max_pooled_sessions() const override { return opts_.max_pooled_sessions; }

  /// Sessions alive now (one per running sequence, plus pooled ones): tests check freed slots.
  int live_sequences() const { return live_->load(); }

 private:
  class ScriptLM;
  Options opts_;
  std::shared_ptr<std::atomic<int>> live_ = std::make_shared<std::atomic<int>>(0);
  std::unique_ptr<tok::Tokenizer> tok_;
  std::unique_ptr<ScriptLM> lm_;
};

}  // namespace r1::server
