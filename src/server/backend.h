// What the server needs from a model: prompt building (chat template, tokenizer) for the HTTP
// threads, and the CausalLM + tokenizer that the batcher's engine::Scheduler decodes with.
// model_backend.cpp implements it over a loaded model; fake_backend.h gives a deterministic
// scripted CausalLM so the queue, batcher and transport are testable without weights.
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/sampler.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"
#include "server/queue.h"
#include "server/schema.h"
#include "server/structured.h"

namespace r1::server {

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
  /// assistant tool calls and tool results go in as the template's format expects them;
  /// `kwargs` (an object, the request's chat_template_kwargs) become template variables, e.g.
  /// enable_thinking: false for Qwen3's template.
  /// Errors (400): a template that rejects the conversation (e.g. roles out of order).
  virtual ApiResult<std::string> render_chat(const std::vector<ChatMessage>& messages,
                                             const nlohmann::ordered_json& kwargs) const = 0;
  /// How the chat template writes tool calls (ToolFormat::None: it cannot; tools get a 400).
  virtual ToolFormat tool_format() const { return ToolFormat::None; }
  /// Tokenizes a rendered chat prompt (special tokens parsed, no extra BOS unless the template
  /// lacks it) or a raw completion prompt (BOS per the tokenizer's default).
  virtual std::vector<int32_t> tokenize(std::string_view text, bool raw_prompt) const = 0;
  /// Token ids are in [0, vocab_size()).
  virtual int32_t vocab_size() const = 0;
  /// Ids that end generation (EOS, <|im_end|>, <｜end▁of▁sentence｜>, ...).
  virtual std::vector<int32_t> eos_ids() const = 0;
  /// Raw bytes of one token (for log-probs; may be part of a UTF-8 character; "" outside the
  /// tokenizer's vocabulary).
  std::string token_bytes(int32_t id) const { return tokenizer().token_bytes(id); }
  /// The tokens that close a reasoning block ("\n</think>\n\n"), forced by the thinking budget.
  virtual std::vector<int32_t> think_end_tokens() const = 0;
  /// The engine sampler's settings before a request's overrides (e.g. the CLI's top-k, min-p,
  /// repeat penalty); a request sets temperature, top_p, seed and the OpenAI penalties.
  virtual engine::SamplerOptions sampler_defaults() const = 0;

  // ---- decoding: the batcher's scheduler thread only ----
  virtual models::CausalLM& model() = 0;
  virtual const tok::Tokenizer& tokenizer() const = 0;
  /// Finished sequences' KV caches kept for prefix reuse (engine::SchedulerOptions).
  virtual int max_pooled_sessions() const = 0;

  /// Token table and compiled grammars for structured output (thread-safe).
  GrammarStore& grammars() const { return grammars_; }
  const grammar::TokenTable& token_table() const { return grammars_.table(tokenizer(), eos_ids()); }

 private:
  mutable GrammarStore grammars_;
};

}  // namespace r1::server
