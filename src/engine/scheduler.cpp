// Continuous-batching scheduler (see scheduler.h).
#include "engine/scheduler.h"

#include <algorithm>
#include <chrono>

#include "core/check.h"

namespace r1::engine {
namespace {

using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

struct Scheduler::Entry {
  std::vector<int32_t> prompt;
  StreamCallback stream;
  int64_t n_ctx = 0;
  bool max_tokens_zero = false;
  std::unique_ptr<Sequence> seq;
  Pooled s;                      // the session while running
  Clock::time_point decode_t0;   // end of the prefill
};

Scheduler::Scheduler(models::CausalLM& model, const tok::Tokenizer& tok, SchedulerOptions opts)
    : model_(model), tok_(tok), opts_(opts), V_(model.info().vocab_size) {}

Scheduler::~Scheduler() = default;

Scheduler::Entry& Scheduler::entry(SeqId id) const {
  auto it = entries_.find(id);
  R1_CHECK(it != entries_.end(), "unknown sequence id {}", id);
  return *it->second;
}

Result<SeqId> Scheduler::add(SequenceRequest req) {
  const int64_t P = static_cast<int64_t>(req.prompt.size());
  int64_t n_ctx = opts_.n_ctx;
  if (n_ctx <= 0) {
    const int64_t model_ctx =
        model_.info().max_position_embeddings > 0 ? model_.info().max_position_embeddings : 4096;
    n_ctx = req.opts.max_tokens >= 0 ? std::min(model_ctx, P + std::max<int64_t>(req.opts.max_tokens, 1))
                                     : model_ctx;
  }
  R1_TRY(check_prompt(P, n_ctx));
  for (const int32_t id : req.prompt) {
    if (id < 0 || id >= V_) return make_error("prompt: token id {} is outside the vocabulary [0, {})", id, V_);
  }
  auto e = std::make_unique<Entry>();
  e->n_ctx = n_ctx;
  e->max_tokens_zero = req.opts.max_tokens == 0;
  e->seq = std::make_unique<Sequence>(tok_, std::move(req.opts), req.prompt, n_ctx);
  e->prompt = std::move(req.prompt);
  e->stream = std::move(req.stream);
  const SeqId id = next_id_++;
  entries_.emplace(id, std::move(e));
  waiting_.push_back(id);
  return id;
}

void Scheduler::cancel(SeqId id) {
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second->seq->finished()) return;
  Entry& e = *it->second;
  e.seq->cancel(e.stream);
  if (auto w = std::find(waiting_.begin(), waiting_.end(), id); w != waiting_.end()) {
    waiting_.erase(w);
    return;
  }
  release(e);
  std::erase(running_, id);
}

Scheduler::Pooled Scheduler::acquire(std::span<const int32_t> prompt, int64_t n_ctx) {
  size_t best = pool_.size(), best_len = 0;
  for (size_t i = 0; i < pool_.size(); ++i) {
    if (pool_[i].session->n_ctx() < n_ctx) continue;
    const auto& t = pool_[i].tokens;
    const size_t limit = std::min(t.size(), prompt.size() - 1);
    size_t k = 0;
    while (k < limit && t[k] == prompt[k]) ++k;
    if (best == pool_.size() || k > best_len) {
      best = i;
      best_len = k;
    }
  }
  if (best == pool_.size()) return {model_.new_session(n_ctx), {}};
  Pooled s = std::move(pool_[best]);
  pool_.erase(pool_.begin() + static_cast<ptrdiff_t>(best));
  s.session->truncate(static_cast<int64_t>(best_len));
  s.tokens.resize(best_len);
  return s;
}

void Scheduler::release(Entry& e) {
  if (!e.s.session) return;
  if (opts_.max_pooled_sessions <= 0) {
    e.s = {};
    return;
  }
  // Keep the most recent sessions: a later request is most likely to share their prefix.
  if (static_cast<int>(pool_.size()) >= opts_.max_pooled_sessions) pool_.erase(pool_.begin());
  pool_.push_back(std::move(e.s));
  e.s = {};
}

void Scheduler::admit(Entry& e, std::span<float> logits) {
  const auto t0 = Clock::now();
  e.s = acquire(e.prompt, e.n_ctx);
  const size_t keep = e.s.tokens.size();
  const auto rest = std::span<const int32_t>(e.prompt).subspan(keep);
  model_.forward(rest, *e.s.session, logits.data(), /*all_logits=*/false);
  e.s.tokens.insert(e.s.tokens.end(), rest.begin(), rest.end());
  reused_tokens_ += static_cast<int64_t>(keep);
  GenerateResult& r = e.seq->mutable_result();
  r.cached_tokens = static_cast<int64_t>(keep);
  r.prompt_ms = ms_since(t0);
  e.decode_t0 = Clock::now();
  if (e.max_tokens_zero) {
    e.seq->end_before_start(FinishReason::Length);
  } else {
    e.seq->accept(logits, ws_, e.stream);
  }
}

void Scheduler::retire_finished() {
  std::erase_if(running_, [&](SeqId id) {
    Entry& e = entry(id);
    if (!e.seq->finished()) return false;
    e.seq->mutable_result().decode_ms = ms_since(e.decode_t0);
    release(e);
    return true;
  });
}

void Scheduler::step() {
  logits_.resize(static_cast<size_t>(V_));
  // Sequences already running decode this step; the ones admitted now only prefill.
  batch_ids_.assign(running_.begin(), running_.end());
  while (!waiting_.empty() &&
         (opts_.max_running <= 0 || static_cast<int>(running_.size()) < opts_.max_running)) {
    const SeqId id = waiting_.front();
    waiting_.pop_front();
    running_.push_back(id);
    admit(entry(id), logits_);
  }
  batch_tokens_.clear();
  batch_sessions_.clear();
  for (const SeqId id : batch_ids_) {
    Entry& e = entry(id);
    batch_tokens_.push_back(e.seq->next_token());
    batch_sessions_.push_back(e.s.session.get());
  }
  if (!batch_tokens_.empty()) {
    const size_t B = batch_tokens_.size();
    logits_.resize(B * static_cast<size_t>(V_));
    model_.forward_batch(batch_tokens_, batch_sessions_, logits_.data());
    ++decode_steps_;
    max_batch_ = std::max(max_batch_, static_cast<int>(B));
    for (size_t b = 0; b < B; ++b) {
      Entry& e = entry(batch_ids_[b]);
      e.s.tokens.push_back(batch_tokens_[b]);
      ++e.seq->mutable_result().decode_steps;
      e.seq->accept(std::span<const float>(logits_).subspan(b * V_, static_cast<size_t>(V_)), ws_,
                    e.stream);
    }
  }
  retire_finished();
}

void Scheduler::run() {
  while (!idle()) step();
}

Result<GenerateResult> Scheduler::generate(std::span<const int32_t> prompt,
                                           const GenerateOptions& opts, const StreamCallback& cb) {
  SequenceRequest req;
  req.prompt.assign(prompt.begin(), prompt.end());
  req.opts = opts;
  req.stream = cb;
  R1_ASSIGN_OR_RETURN(id, add(std::move(req)));
  while (!finished(id)) step();
  return take(id);
}

bool Scheduler::finished(SeqId id) const { return entry(id).seq->finished(); }

const GenerateResult& Scheduler::result(SeqId id) const { return entry(id).seq->result(); }

GenerateResult Scheduler::take(SeqId id) {
  auto it = entries_.find(id);
  R1_CHECK(it != entries_.end() && it->second->seq->finished(), "take of unfinished sequence {}", id);
  GenerateResult r = std::move(it->second->seq->mutable_result());
  entries_.erase(it);
  return r;
}

}  // namespace r1::engine
