// The server's Backend over a real model: the chat template and tokenizer build prompts; the
// batcher's engine::Scheduler decodes with the model, keeping `max_pooled_sessions` finished KV
// caches so that a new prompt sharing a prefix with one of them (a repeated system prompt, the
// next chat turn) reuses that part instead of recomputing it.
#pragma once
#include <memory>
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
  ToolFormat tool_format() const override;
  std::vector<int32_t> tokenize(std::string_view text, bool raw_prompt) const override;
  int32_t vocab_size() const override { return tok_.vocab_size(); }
  std::vector<int32_t> eos_ids() const override { return eos_ids_; }
  std::vector<int32_t> think_end_tokens() const override { return think_end_; }
  engine::SamplerOptions sampler_defaults() const override { return sampling_; }
  models::CausalLM& model() override { return model_; }
  const tok::Tokenizer& tokenizer() const override { return tok_; }
  int max_pooled_sessions() const override { return opts_.max_pooled_sessions; }

 private:
  ModelBackend(models::CausalLM& model, const tok::Tokenizer& tok,
               std::optional<tok::ChatTemplate> tmpl, std::vector<int32_t> eos_ids,
               engine::SamplerOptions sampling, Options opts);

  models::CausalLM& model_;
  const tok::Tokenizer& tok_;
  std::optional<tok::ChatTemplate> tmpl_;
  std::vector<int32_t> eos_ids_;
  std::vector<int32_t> think_end_;  // engine::think_end_ids(tok_)
  engine::SamplerOptions sampling_;
  Options opts_;
};

}  // namespace r1::server
