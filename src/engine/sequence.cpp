// The generation loop and the per-sequence state it is built from.
#include "engine/sequence.h"

#include <algorithm>

#include "core/check.h"

namespace r1::engine {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::None: return "";
    case FinishReason::Stop: return "stop";
    case FinishReason::Length: return "length";
    case FinishReason::Error: return "error";
    case FinishReason::Cancelled: return "cancelled";
  }
  return "";
}

double GenerateResult::prompt_tokens_per_s() const {
  const int64_t computed = prompt_tokens - cached_tokens;
  return prompt_ms > 0.0 ? 1000.0 * static_cast<double>(computed) / prompt_ms : 0.0;
}

double GenerateResult::gen_tokens_per_s() const {
  return decode_ms > 0.0 ? 1000.0 * static_cast<double>(decode_steps) / decode_ms : 0.0;
}

Result<void> check_prompt(int64_t n_prompt, int64_t n_ctx) {
  if (n_prompt <= 0) return make_error("prompt: no tokens (give some text, or allow a BOS token)");
  if (n_prompt >= n_ctx) {
    return make_error(
        "prompt is {} tokens but the context holds {} (it needs at least {}: raise --ctx-size "
        "or shorten the prompt)",
        n_prompt, n_ctx, n_prompt + 1);
  }
  return ok_result();
}

Sequence::Sequence(const tok::Tokenizer& tok, GenerateOptions opts, std::span<const int32_t> prompt,
                   int64_t n_ctx)
    : opts_(std::move(opts)),
      tok_(tok),
      rng_(opts_.sampling.seed),
      history_(prompt.begin(), prompt.end()),
      n_ctx_(n_ctx),
      think_(opts_.starts_in_reasoning),
      budget_(opts_.thinking_budget, opts_.think_end_ids),
      decoder_(tok),
      stop_(opts_.stop) {
  result_.prompt_tokens = static_cast<int64_t>(prompt.size());
}

void Sequence::accept(std::span<const float> logits, SamplerWorkspace& ws, const StreamCallback& cb) {
  R1_CHECK(!finished(), "accept on a finished sequence");
  const bool open = (opts_.thinking_budget >= 0 || opts_.constraint) && reasoning_open(think_);
  const int32_t forced = opts_.thinking_budget >= 0 ? budget_.next(open) : -1;
  const bool constrained = opts_.constraint && forced < 0 && !open;
  bool bypass = false;
  auto sampled = forced >= 0  ? Result<int32_t>(forced)
                 : constrained ? sample_constrained(logits, ws, bypass)
                               : sample_token(logits, history_, opts_.sampling, rng_, ws,
                                              result_.tokens.size());
  if (!sampled.ok()) {
    result_.error = sampled.message();
    finish(FinishReason::Error, cb);
    return;
  }
  const int32_t id = sampled.value();
  if (id < 0) {
    finish(FinishReason::Stop, cb);
    return;
  }
  if (constrained && !bypass) opts_.constraint->accept(id);
  if (opts_.top_logprobs >= 0) {
    std::vector<TokenLogprob> top;
    result_.token_logprobs.push_back(log_softmax_top(logits, id, opts_.top_logprobs, top));
    result_.top_logprobs.push_back(std::move(top));
  }
  if (opts_.sampling_logprobs) {
    double h = 0.0;
    result_.sampling_logprobs.push_back(
        tempered_logprob(logits, id, opts_.sampling.greedy() ? 1.0f : opts_.sampling.temperature, &h));
    result_.entropy_sum += h;
  }
  history_.push_back(id);
  result_.tokens.push_back(id);

  const bool is_eos = !opts_.ignore_eos && std::find(opts_.eos_ids.begin(), opts_.eos_ids.end(),
                                                     id) != opts_.eos_ids.end();
  if (is_eos) {
    finish(FinishReason::Stop, cb);
    return;
  }
  const std::string piece = stop_.push(decoder_.push(id));
  result_.text += piece;
  if (opts_.thinking_budget >= 0 || opts_.constraint) think_.push(piece);
  if (cb && !cb(piece, id)) {
    finish(FinishReason::Cancelled, cb);
    return;
  }
  if (stop_.matched()) {
    result_.stop_index = stop_.matched_index();
    finish(FinishReason::Stop, cb);
    return;
  }
  const auto n_gen = static_cast<int64_t>(result_.tokens.size());
  if ((opts_.max_tokens >= 0 && n_gen >= opts_.max_tokens) ||
      result_.prompt_tokens + n_gen >= n_ctx_) {
    finish(FinishReason::Length, cb);
  }
}

int64_t Sequence::remaining_tokens() const {
  const auto n_gen = static_cast<int64_t>(result_.tokens.size());
  int64_t r = n_ctx_ - result_.prompt_tokens - n_gen;
  if (opts_.max_tokens >= 0) r = std::min(r, opts_.max_tokens - n_gen);
  return r;
}

Result<int32_t> Sequence::sample_constrained(std::span<const float> logits, SamplerWorkspace& ws,
                                             bool& bypass) {
  TokenConstraint& c = *opts_.constraint;
  auto take_forced = [&]() -> Result<int32_t> {
    if (forced_.empty()) return -1;
    const int32_t id = forced_.front();
    forced_.erase(forced_.begin());
    return id;
  };
  if (!forced_.empty()) return take_forced();
  const int64_t remaining = remaining_tokens();
  const size_t n_gen = result_.tokens.size();
  // Rejection first (llama.cpp's order): a free sample the constraint allows is a sample of
  // the masked distribution too, and costs one token's check instead of a mask.
  auto free = sample_token(logits, history_, opts_.sampling, rng_, ws, n_gen);
  if (!free.ok()) return free;
  if (c.allows(*free, remaining)) return free;
  // A model that opens its reasoning itself (no <think> in the prompt) may still do so first.
  if (n_gen == 0 && !think_.saw_reasoning()) {
    tok::ReasoningParser p = think_;
    p.push(tok_.token_bytes(*free));
    if (reasoning_open(p)) {
      bypass = true;
      return free;
    }
  }
  ws.masked.assign(logits.begin(), logits.end());
  c.mask(ws.masked);
  auto again = sample_token(ws.masked, history_, opts_.sampling, rng_, ws, n_gen);
  if (again.ok() && c.allows(*again, remaining)) return again;
  // No token leaves room to finish: emit the shortest completion and end.
  forced_ = c.completion();
  return take_forced();
}

void Sequence::cancel(const StreamCallback& cb) {
  if (!finished()) finish(FinishReason::Cancelled, cb);
}

void Sequence::finish(FinishReason reason, const StreamCallback& cb) {
  result_.finish_reason = reason;
  // Release what was held back for an incomplete character or a stop string that never
  // completed; after a stop string everything from it on is dropped.
  std::string rest;
  if (!stop_.matched()) {
    rest = stop_.push(decoder_.flush());
    if (stop_.matched()) {
      result_.stop_index = stop_.matched_index();
      if (result_.finish_reason != FinishReason::Error) result_.finish_reason = FinishReason::Stop;
    } else {
      rest += stop_.flush();
    }
  }
  result_.text += rest;
  if (cb) cb(rest, -1);
}

}  // namespace r1::engine
