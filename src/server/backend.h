// What the server needs from a model: prompt building (chat template, tokenizer) for the HTTP
// threads, and per-sequence decoding for the scheduler thread. model_backend.cpp implements it
// over models::CausalLM + tok::Tokenizer; fake_backend.h gives a deterministic stand-in so the
// queue, scheduler and transport are testable without a model.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <deque>
#include <vector>

#include "engine/sampler.h"
#include "server/queue.h"
#include "server/schema.h"

namespace r1::server {

/// Incremental detokenizer: token ids in, complete UTF-8 out (see tok::StreamDecoder).
class Detokenizer {
 public:
  virtual ~Detokenizer() = default;
  virtual std::string push(int32_t id) = 0;
  virtual std::string flush() = 0;
};

/// Per-sequence decode state owned by the backend (KV cache, pending tokens, RNG).
class Sequence {
 public:
  virtual ~Sequence() = default;
  /// Positions used so far (prompt + generated tokens fed back).
  virtual int64_t n_past() const = 0;

  /// Makes `id` the next token Backend::step reports for this sequence instead of a sampled one
  /// (the thinking budget's closing tag). It is fed back and counted like a sampled token.
  void force(int32_t id) { forced_.push_back(id); }

  /// Filled by Backend::step when SamplingParams::top_logprobs >= 0: the log-prob of the token it
  /// put in next[i] under the model's raw distribution (engine::log_softmax_top) and the top
  /// alternatives, most likely first.
  float logprob = 0.0f;
  std::vector<engine::TokenLogprob> top_logprobs;

 protected:
  /// For Backend::step: the forced token to report now (removed), or -1 to sample.
  int32_t take_forced() {
    if (forced_.empty()) return -1;
    const int32_t id = forced_.front();
    forced_.pop_front();
    return id;
  }

 private:
  std::deque<int32_t> forced_;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- facts and prompt building: const, thread-safe, called from HTTP threads ----
  /// The id clients must send as "model" (GET /v1/models lists it).
  virtual const std::string& model_id() const = 0;
  /// Context length of one sequence, tokens (prompt + completion).
  virtual int64_t n_ctx() const = 0;
  /// Sampling used when the request leaves temperature / top_p unset.
  virtual SamplingParams default_sampling() const = 0;
  /// Renders chat messages with the model's template plus the assistant generation prompt;
  /// `kwargs` (an object, the request's chat_template_kwargs) become template variables, e.g.
  /// enable_thinking: false for Qwen3's template.
  /// Errors (400): a template that rejects the conversation (e.g. roles out of order).
  virtual ApiResult<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                             const nlohmann::ordered_json& kwargs) const = 0;
  /// Tokenizes a rendered chat prompt (special tokens parsed, no extra BOS unless the template
  /// lacks it) or a raw completion prompt (BOS per the tokenizer's default).
  virtual std::vector<int32_t> tokenize(std::string_view text, bool raw_prompt) const = 0;
  /// Token ids are in [0, vocab_size()).
  virtual int32_t vocab_size() const = 0;
  /// True for ids that end generation (EOS, <|im_end|>, <｜end▁of▁sentence｜>, ...).
  virtual bool is_eos(int32_t id) const = 0;
  /// Raw bytes of one token (for log-probs; may be part of a UTF-8 character).
  virtual std::string token_bytes(int32_t id) const = 0;
  /// The tokens that close a reasoning block ("\n</think>\n\n"), forced by the thinking budget.
  virtual std::vector<int32_t> think_end_tokens() const = 0;
  /// A fresh incremental detokenizer (one per choice).
  virtual std::unique_ptr<Detokenizer> new_detokenizer() const = 0;

  // ---- decoding: called from the scheduler thread only ----
  /// A sequence that will prefill `prompt` (P >= 1 tokens, P < n_ctx) on its first step.
  virtual std::unique_ptr<Sequence> new_sequence(std::span<const int32_t> prompt,
                                                 const SamplingParams& sampling) = 0;
  /// Advances every sequence by one token: a new sequence runs its prompt, the others the token
  /// sampled last step; then one token is sampled per sequence into next[i] (or its forced token
  /// taken), with its log-probs filled in when the sampling asked for them. All sequences have
  /// room (n_past + pending <= n_ctx). Sequences join and leave between calls.
  virtual void step(std::span<Sequence* const> seqs, std::span<int32_t> next) = 0;
};

}  // namespace r1::server
