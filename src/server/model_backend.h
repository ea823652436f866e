// The server's Backend over a real model: the chat template and tokenizer build prompts, each
// sequence owns a models::Session (KV cache) and a seeded sampler, and a step prefills new
// sequences and decodes all the others in one batched forward, then samples with the engine's
// sampler chain. Finished sequences return their session to a pool; a new prompt that shares a
// prefix with a pooled session's tokens (a repeated system prompt, the next chat turn) reuses that
// part of its KV cache instead of recomputing it.
#pragma once
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampler.h"
#include "models/model.h"
#include "server/backend.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace r1::server {

class ModelBackend : public Backend {
 public:
  struct Options {
    std::string model_id;    // the name clients send as "model"
    int64_t n_ctx = 0;       // per-sequence context; <= 0 or above the model's: the model's
    int max_pooled_sessions = 8;  // finished sessions kept for prefix reuse
  };

  /// `tmpl` may be empty (then chat requests get a 400 asking for /v1/completions). `sampling`
  /// holds the defaults (SamplerOptions::recommended or the CLI flags); requests override
  /// temperature, top_p, seed and the frequency/presence penalties. model and tokenizer must outlive the backend.
  /// Errors: the tokenizer has ids the model's vocabulary lacks.
  static Result<std::unique_ptr<ModelBackend>> create(models::CausalLM& model,
                                                      const tok::Tokenizer& tokenizer,
                                                      std::optional<tok::ChatTemplate> tmpl,
                                                      std::vector<int32_t> eos_ids,
                                                      engine::SamplerOptions sampling,
                                                      Options opts);

  const std::string& model_id() const override { return opts_.model_id; }
  int64_t n_ctx() const override { return opts_.n_ctx; }
  SamplingParams default_sampling() const override;
  ApiResult<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                     const nlohmann::ordered_json& kwargs) const override;
  std::vector<int32_t> tokenize(std::string_view text, bool raw_prompt) const override;
  int32_t vocab_size() const override { return tok_.vocab_size(); }
  bool is_eos(int32_t id) const override;
  std::string token_bytes(int32_t id) const override { return tok_.token_bytes(id); }
  std::vector<int32_t> think_end_tokens() const override { return think_end_; }
  std::unique_ptr<Detokenizer> new_detokenizer() const override;

  std::unique_ptr<Sequence> new_sequence(std::span<const int32_t> prompt,
                                         const SamplingParams& sampling) override;
  /// Prefills new sequences one by one (CausalLM::forward), decodes all the others together in
  /// one CausalLM::forward_batch, then samples each. A sequence whose logits are not finite gets
  /// -1 (an end of sequence for is_eos).
  void step(std::span<Sequence* const> seqs, std::span<int32_t> next) override;

  /// Prompt tokens served from pooled KV caches instead of being recomputed (metrics, tests).
  int64_t reused_prompt_tokens() const { return reused_tokens_; }

 private:
  struct PooledSession {
    std::unique_ptr<models::Session> session;
    std::vector<int32_t> tokens;  // what its cache holds: tokens.size() == n_past()
  };
  class ModelSequence;
  friend class ModelSequence;

  ModelBackend(models::CausalLM& model, const tok::Tokenizer& tok,
               std::optional<tok::ChatTemplate> tmpl, std::vector<int32_t> eos_ids,
               engine::SamplerOptions sampling, Options opts);
  // A session whose cache holds the longest prefix of `prompt` (at most P-1 tokens, so the last
  // prompt token is always computed and yields logits), truncated to that prefix.
  PooledSession acquire(std::span<const int32_t> prompt);
  void release(PooledSession s);

  models::CausalLM& model_;
  const tok::Tokenizer& tok_;
  std::optional<tok::ChatTemplate> tmpl_;
  std::vector<int32_t> eos_ids_;
  std::vector<int32_t> think_end_;  // engine::think_end_ids(tok_)
  engine::SamplerOptions sampling_;
  Options opts_;
  std::vector<float> logits_;  // [V] scratch, scheduler thread only
  std::vector<float> batch_logits_;  // [B, V] scratch of forward_batch
  std::vector<size_t> batch_index_;
  std::vector<int32_t> batch_tokens_;
  std::vector<models::Session*> batch_sessions_;
  engine::SamplerWorkspace ws_;
  std::mutex pool_mu_;  // sequences may be destroyed outside the scheduler thread
  std::vector<PooledSession> pool_;
  int64_t reused_tokens_ = 0;
};

}  // namespace r1::server
