// A deterministic stand-in model for testing the server without weights: byte-level tokens
// (id = byte, kEos = 256), a trivial chat template, and sequences that emit a fixed script one
// byte per step and then EOS. Optional per-step delay to exercise queueing and cancellation.
// Its "distribution" at each step (for log-probs) puts 1/2 on the script's next byte b and
// 2^-(j+1) on byte b + j (mod 256), j = 1, 2, ...; a forced token does not advance the script.
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
    /// What every sequence generates (then EOS). "{seed}" is replaced by the sequence's seed so
    /// tests can tell choices apart.
    std::string script = "Hello from the fake model.";
    /// Ends the rendered chat prompt with "<think>\n" like the R1 templates.
    bool template_opens_think = false;
    std::chrono::milliseconds step_delay{0};
  };

  explicit FakeBackend(Options opts) : opts_(std::move(opts)) {}

  const std::string& model_id() const override { return opts_.model_id; }
  int64_t n_ctx() const override { return opts_.n_ctx; }
  SamplingParams default_sampling() const override { return {}; }
  /// "<|role|>content\n" per message, then "<|assistant|>" (+ "<think>\n" unless kwargs has
  /// enable_thinking: false, as Qwen3's template does).
  ApiResult<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                     const nlohmann::ordered_json& kwargs) const override;
  std::vector<int32_t> tokenize(std::string_view text, bool raw_prompt) const override;
  int32_t vocab_size() const override { return kEos + 1; }
  bool is_eos(int32_t id) const override { return id == kEos; }
  std::string token_bytes(int32_t id) const override;
  std::vector<int32_t> think_end_tokens() const override;
  std::unique_ptr<Detokenizer> new_detokenizer() const override;

  std::unique_ptr<Sequence> new_sequence(std::span<const int32_t> prompt,
                                         const SamplingParams& sampling) override;
  void step(std::span<Sequence* const> seqs, std::span<int32_t> next) override;

  /// Sequences alive now (created and not yet destroyed): tests check freed slots with it.
  int live_sequences() const { return live_->load(); }

 private:
  Options opts_;
  std::shared_ptr<std::atomic<int>> live_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace r1::server
