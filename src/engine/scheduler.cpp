// Continuous-batching scheduler (see scheduler.h).
#include "engine/scheduler.h"

#include <algorithm>
#include <chrono>
#include <limits>

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
  int64_t prefilled = 0;         // prompt tokens in the cache (prefill is done at prompt.size())
  Clock::time_point prefill_t0;  // admission
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

void Scheduler::admit(Entry& e) {
  e.prefill_t0 = Clock::now();
  e.s = acquire(e.prompt, e.n_ctx);
  const size_t keep = e.s.tokens.size();
  e.prefilled = static_cast<int64_t>(keep);
  reused_tokens_ += static_cast<int64_t>(keep);
  e.seq->mutable_result().cached_tokens = static_cast<int64_t>(keep);
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
  while (!waiting_.empty() &&
         (opts_.max_running <= 0 || static_cast<int>(running_.size()) < opts_.max_running)) {
    const SeqId id = waiting_.front();
    waiting_.pop_front();
    running_.push_back(id);
    admit(entry(id));
  }
  // Decode rows first (never cut), then prompt chunks in arrival order within the budget.
  batch_.clear();
  batch_ids_.clear();
  batch_sample_.clear();
  int64_t n_logits = 0, decode_rows = 0;
  for (const SeqId id : running_) {
    Entry& e = entry(id);
    if (e.prefilled < static_cast<int64_t>(e.prompt.size())) continue;
    batch_.add(e.seq->next_token(), batch_.add_sequence(e.s.session.get()),
               e.s.session->n_past(), models::Batch::kLogits);
    batch_ids_.push_back(id);
    batch_sample_.push_back(n_logits++);
    ++decode_rows;
  }
  int64_t budget = opts_.step_tokens > 0 ? opts_.step_tokens - decode_rows
                                         : std::numeric_limits<int64_t>::max();
  for (const SeqId id : running_) {
    Entry& e = entry(id);
    const int64_t P = static_cast<int64_t>(e.prompt.size());
    if (e.prefilled >= P) continue;
    if (budget <= 0 && batch_.size() > decode_rows) break;  // one prompt token per step at least
    const int64_t n = std::min(P - e.prefilled, std::max<int64_t>(budget, 1));
    const bool done = e.prefilled + n == P;
    batch_.add_tokens(batch_.add_sequence(e.s.session.get()),
                      std::span<const int32_t>(e.prompt).subspan(static_cast<size_t>(e.prefilled),
                                                                 static_cast<size_t>(n)),
                      e.prefilled, done ? models::Batch::kLogits : 0, /*last_only=*/true);
    batch_ids_.push_back(id);
    batch_sample_.push_back(done ? n_logits++ : -1);
    budget -= n;
  }
  if (batch_.empty()) {
    retire_finished();
    return;
  }
  logits_.resize(static_cast<size_t>(n_logits * V_));
  models::ForwardContext fc;
  fc.logits = logits_.data();
  model_.forward(batch_, fc);
  if (decode_rows > 0) ++decode_steps_;
  max_batch_ = std::max(max_batch_, static_cast<int>(batch_ids_.size()));
  for (size_t i = 0; i < batch_ids_.size(); ++i) {
    Entry& e = entry(batch_ids_[i]);
    const int64_t P = static_cast<int64_t>(e.prompt.size());
    const auto logits = [&] {
      return std::span<const float>(logits_).subspan(static_cast<size_t>(batch_sample_[i] * V_),
                                                     static_cast<size_t>(V_));
    };
    if (e.prefilled >= P) {  // a decode row
      e.s.tokens.push_back(batch_.tokens[i]);  // decode sequences hold the first rows, one each
      ++e.seq->mutable_result().decode_steps;
      e.seq->accept(logits(), ws_, e.stream);
      continue;
    }
    const int64_t before = e.prefilled;
    e.prefilled = e.s.session->n_past();
    e.s.tokens.insert(e.s.tokens.end(), e.prompt.begin() + before, e.prompt.begin() + e.prefilled);
    if (e.prefilled < P) continue;
    e.seq->mutable_result().prompt_ms = ms_since(e.prefill_t0);
    e.decode_t0 = Clock::now();
    if (e.max_tokens_zero) {
      e.seq->end_before_start(FinishReason::Length);
    } else {
      e.seq->accept(logits(), ws_, e.stream);
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
