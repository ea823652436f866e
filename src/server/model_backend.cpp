// Backend over models::CausalLM + tok::Tokenizer (see model_backend.h).
#include "server/model_backend.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "engine/prompt.h"
#include "engine/thinking_budget.h"

namespace r1::server {
namespace {

class StreamDetokenizer : public Detokenizer {
 public:
  explicit StreamDetokenizer(const tok::Tokenizer& t) : dec_(t) {}
  std::string push(int32_t id) override { return dec_.push(id); }
  std::string flush() override { return dec_.flush(); }

 private:
  tok::StreamDecoder dec_;
};

}  // namespace

class ModelBackend::ModelSequence : public Sequence {
 public:
  ModelSequence(ModelBackend& owner, PooledSession s, std::span<const int32_t> prompt,
                engine::SamplerOptions opts, int top_logprobs)
      : owner_(owner), s_(std::move(s)), opts_(opts), rng_(opts.seed),
        top_logprobs_k_(top_logprobs), n_prompt_(prompt.size()),
        history_(prompt.begin(), prompt.end()),
        pending_(prompt.begin() + static_cast<ptrdiff_t>(s_.tokens.size()), prompt.end()) {}
  ~ModelSequence() override { owner_.release(std::move(s_)); }
  int64_t n_past() const override { return static_cast<int64_t>(s_.tokens.size()); }

  // The tokens to feed next: the prompt (minus a reused prefix) first, then the last sample.
  std::span<const int32_t> pending() const { return pending_; }
  models::Session& session() { return *s_.session; }
  // Runs the pending tokens alone (prefill, or decode when not batched).
  void forward(std::span<float> logits) {
    owner_.model_.forward(pending_, *s_.session, logits.data(), /*all_logits=*/false);
    fed();
  }
  // Records that the pending tokens are now in the KV cache (after forward or forward_batch).
  void fed() { s_.tokens.insert(s_.tokens.end(), pending_.begin(), pending_.end()); }
  // Samples the next token from the logits [V] after the last fed token (-1 when not finite),
  // or takes the forced one; fills in its log-probs when asked for.
  int32_t sample(std::span<const float> logits, engine::SamplerWorkspace& ws) {
    const int32_t forced = take_forced();
    auto id = engine::sample_token(logits, history_, opts_, rng_, ws, history_.size() - n_prompt_);
    if (!id.ok()) return -1;  // non-finite logits end the sequence, forced token or not
    const int32_t next = forced >= 0 ? forced : *id;
    if (top_logprobs_k_ >= 0) logprob = engine::log_softmax_top(logits, next, top_logprobs_k_, top_logprobs);
    history_.push_back(next);
    pending_.assign(1, next);
    return next;
  }

 private:
  ModelBackend& owner_;
  PooledSession s_;
  engine::SamplerOptions opts_;
  engine::Rng rng_;
  int top_logprobs_k_;            // < 0: no log-probs
  size_t n_prompt_;               // history_[n_prompt_:] is the completion (OpenAI's penalties)
  std::vector<int32_t> history_;  // prompt + generated (the repetition penalty's window)
  std::vector<int32_t> pending_;  // to feed on the next step
};

ModelBackend::ModelBackend(models::CausalLM& model, const tok::Tokenizer& tok,
                           std::optional<tok::ChatTemplate> tmpl, std::vector<int32_t> eos_ids,
                           engine::SamplerOptions sampling, Options opts)
    : model_(model), tok_(tok), tmpl_(std::move(tmpl)), eos_ids_(std::move(eos_ids)),
      think_end_(engine::think_end_ids(tok)), sampling_(sampling), opts_(std::move(opts)) {
  const int64_t model_ctx = model_.info().max_position_embeddings;
  if (opts_.n_ctx <= 0 || (model_ctx > 0 && opts_.n_ctx > model_ctx)) opts_.n_ctx = model_ctx;
  if (opts_.model_id.empty()) opts_.model_id = model_.info().name;
  logits_.resize(static_cast<size_t>(model_.info().vocab_size));
}

Result<std::unique_ptr<ModelBackend>> ModelBackend::create(
    models::CausalLM& model, const tok::Tokenizer& tokenizer, std::optional<tok::ChatTemplate> tmpl,
    std::vector<int32_t> eos_ids, engine::SamplerOptions sampling, Options opts) {
  const int64_t v = model.info().vocab_size;
  if (tokenizer.vocab_size() > v) {
    return make_error("the tokenizer has {} ids but the model's vocabulary only {}; they do "
                      "not belong together",
                      tokenizer.vocab_size(), v);
  }
  if (opts.n_ctx <= 0 && model.info().max_position_embeddings <= 0) {
    return make_error("the model does not state its context length; pass --ctx-size");
  }
  return std::unique_ptr<ModelBackend>(new ModelBackend(model, tokenizer, std::move(tmpl),
                                                        std::move(eos_ids), sampling,
                                                        std::move(opts)));
}

SamplingParams ModelBackend::default_sampling() const {
  SamplingParams p;
  p.temperature = sampling_.temperature;
  p.top_p = sampling_.top_p;
  p.seed = sampling_.seed;
  p.frequency_penalty = sampling_.frequency_penalty;
  p.presence_penalty = sampling_.presence_penalty;
  return p;
}

ApiResult<std::string> ModelBackend::render_chat(const std::vector<ChatMessage>& messages,
                                                const nlohmann::ordered_json& kwargs) const {
  if (!tmpl_) {
    ApiError e;
    e.param = "messages";
    e.code = "no_chat_template";
    e.message = "this model has no chat template (start the server with --chat-template FILE, or "
                "use /v1/completions with a raw prompt)";
    return e;
  }
  nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
  for (const auto& m : messages) {
    // Templates predate the "developer" role; it is OpenAI's new name for "system".
    msgs.push_back({{"role", m.role == "developer" ? "system" : m.role}, {"content", m.content}});
  }
  auto text = tmpl_->render(msgs, /*add_generation_prompt=*/true, kwargs);
  if (!text.ok()) {
    ApiError e;
    e.param = "messages";
    e.code = "chat_template_error";
    e.message = "the chat template rejected the messages: " + text.message();
    return e;
  }
  return std::move(text).value();
}

std::vector<int32_t> ModelBackend::tokenize(std::string_view text, bool raw_prompt) const {
  if (raw_prompt) return engine::raw_prompt_ids(tok_, text, /*allow_bos=*/true);
  const std::string s(text);
  const bool bos = tmpl_ && tok::needs_bos(s, tmpl_->specials().bos_token, tok_.add_bos_default());
  return tok_.encode(text, bos && tok_.bos_id() >= 0, /*parse_special=*/true);
}

bool ModelBackend::is_eos(int32_t id) const {
  return id < 0 || std::find(eos_ids_.begin(), eos_ids_.end(), id) != eos_ids_.end();
}

std::unique_ptr<Detokenizer> ModelBackend::new_detokenizer() const {
  return std::make_unique<StreamDetokenizer>(tok_);
}

ModelBackend::PooledSession ModelBackend::acquire(std::span<const int32_t> prompt) {
  std::lock_guard<std::mutex> lock(pool_mu_);
  size_t best = pool_.size(), best_len = 0;
  for (size_t i = 0; i < pool_.size(); ++i) {
    const auto& t = pool_[i].tokens;
    const size_t limit = std::min(t.size(), prompt.size() - 1);
    size_t k = 0;
    while (k < limit && t[k] == prompt[k]) ++k;
    if (best == pool_.size() || k > best_len) {
      best = i;
      best_len = k;
    }
  }
  if (best == pool_.size()) return {model_.new_session(opts_.n_ctx), {}};
  PooledSession s = std::move(pool_[best]);
  pool_.erase(pool_.begin() + static_cast<ptrdiff_t>(best));
  s.session->truncate(static_cast<int64_t>(best_len));
  s.tokens.resize(best_len);
  reused_tokens_ += static_cast<int64_t>(best_len);
  return s;
}

void ModelBackend::release(PooledSession s) {
  if (!s.session) return;
  std::lock_guard<std::mutex> lock(pool_mu_);
  // Keep the most recent sessions: a later request is most likely to share their prefix.
  if (static_cast<int>(pool_.size()) >= std::max(1, opts_.max_pooled_sessions)) pool_.erase(pool_.begin());
  pool_.push_back(std::move(s));
}

std::unique_ptr<Sequence> ModelBackend::new_sequence(std::span<const int32_t> prompt,
                                                     const SamplingParams& sampling) {
  engine::SamplerOptions o = sampling_;
  o.temperature = sampling.temperature;
  o.top_p = sampling.top_p;
  o.seed = sampling.seed;
  o.frequency_penalty = sampling.frequency_penalty;
  o.presence_penalty = sampling.presence_penalty;
  return std::make_unique<ModelSequence>(*this, acquire(prompt), prompt, o, sampling.top_logprobs);
}

void ModelBackend::step(std::span<Sequence* const> seqs, std::span<int32_t> next) {
  const size_t V = logits_.size();
  // New sequences prefill their prompts one by one; all the others decode one token each in ONE
  // forward_batch, which streams every weight once for the whole batch.
  batch_index_.clear();
  batch_tokens_.clear();
  batch_sessions_.clear();
  for (size_t i = 0; i < seqs.size(); ++i) {
    auto* s = static_cast<ModelSequence*>(seqs[i]);
    if (s->pending().size() == 1) {
      batch_index_.push_back(i);
      batch_tokens_.push_back(s->pending()[0]);
      batch_sessions_.push_back(&s->session());
      continue;
    }
    s->forward(logits_);
    next[i] = s->sample(logits_, ws_);
  }
  if (batch_index_.empty()) return;
  batch_logits_.resize(batch_index_.size() * V);
  model_.forward_batch(batch_tokens_, batch_sessions_, batch_logits_.data());
  for (size_t b = 0; b < batch_index_.size(); ++b) {
    auto* s = static_cast<ModelSequence*>(seqs[batch_index_[b]]);
    s->fed();
    next[batch_index_[b]] = s->sample(std::span<const float>(batch_logits_).subspan(b * V, V), ws_);
  }
}

}  // namespace r1::server
