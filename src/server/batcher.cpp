// Continuous-batching scheduler (see batcher.h).
#include "server/batcher.h"

#include <algorithm>
#include <exception>

namespace r1::server {

Batcher::Batcher(Backend& backend, AdmissionQueue& queue, Metrics& metrics, int parallel)
    : backend_(backend), queue_(queue), metrics_(metrics), parallel_(std::max(1, parallel)) {}

Batcher::~Batcher() { stop(); }

void Batcher::start() {
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void Batcher::stop() {
  stop_ = true;
  queue_.notify();
  if (thread_.joinable()) thread_.join();
  ApiError e;
  e.status = 503;
  e.type = "server_error";
  e.code = "server_shutting_down";
  e.message = "the server is shutting down; the request was cancelled";
  fail_all(e);
  for (auto& j : queue_.drain()) {
    JobEvent ev;
    ev.kind = JobEvent::Kind::Failed;
    ev.error = e;
    j->push(std::move(ev));
  }
}

bool Batcher::wait_idle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(idle_mu_);
  return idle_cv_.wait_for(lock, timeout, [&] { return busy_.load() == 0 && queue_.size() == 0; });
}

Batcher::JobState& Batcher::state_of(const Job* j) {
  for (auto& [job, st] : jobs_) {
    if (job.get() == j) return st;
  }
  // Every slot's job is registered in admit(); reaching here is a scheduler bug.
  std::terminate();
}

void Batcher::admit(const std::shared_ptr<Job>& job) {
  JobState st;
  st.remaining = job->n;
  st.usage.prompt_tokens = static_cast<int64_t>(job->prompt_tokens.size());
  std::vector<std::unique_ptr<Slot>> fresh;
  try {
    for (int i = 0; i < job->n; ++i) {
      SamplingParams sp = job->sampling;
      sp.seed += static_cast<uint64_t>(i);
      const bool budgeted = job->kind == GenerationRequest::Kind::Chat && job->max_reasoning_tokens >= 0;
      engine::ThinkingBudget budget(budgeted ? job->max_reasoning_tokens : -1,
                                    budgeted ? backend_.think_end_tokens() : std::vector<int32_t>{});
      auto slot = std::make_unique<Slot>(job, i, engine::StopMatcher(job->stop),
                                         job->prompt_opens_think, std::move(budget));
      slot->seq = backend_.new_sequence(job->prompt_tokens, sp);
      slot->detok = backend_.new_detokenizer();
      apply_budget(*slot);  // a budget of 0 closes the block before the first token
      fresh.push_back(std::move(slot));
    }
  } catch (const std::exception& ex) {
    JobEvent ev;
    ev.kind = JobEvent::Kind::Failed;
    ev.error.status = 500;
    ev.error.type = "server_error";
    ev.error.message = std::string("could not start the sequence: ") + ex.what();
    job->push(std::move(ev));
    return;
  }
  metrics_.on_prompt_tokens(st.usage.prompt_tokens);
  jobs_.emplace_back(job, st);
  for (auto& s : fresh) slots_.push_back(std::move(s));
}

void Batcher::run() {
  std::vector<Sequence*> seqs;
  std::vector<int32_t> next;
  while (!stop_) {
    // Cancelled jobs (client gone) leave before the step, so their slots are free for admission.
    std::erase_if(slots_, [](const auto& s) { return s->job->cancelled(); });
    std::erase_if(jobs_, [](const auto& p) { return p.first->cancelled(); });

    const int free_slots = parallel_ - static_cast<int>(slots_.size());
    const auto wait = slots_.empty() ? std::chrono::milliseconds(50) : std::chrono::milliseconds(0);
    for (auto& job : queue_.take(free_slots, wait)) admit(job);
    busy_ = static_cast<int>(slots_.size());
    metrics_.set_busy_slots(busy_);
    metrics_.set_queue_length(static_cast<int64_t>(queue_.size()));
    if (slots_.empty()) {
      idle_cv_.notify_all();
      continue;
    }

    seqs.clear();
    for (auto& s : slots_) seqs.push_back(s->seq.get());
    next.assign(seqs.size(), -1);
    try {
      backend_.step(seqs, next);
    } catch (const std::exception& ex) {
      ApiError e;
      e.status = 500;
      e.type = "server_error";
      e.message = std::string("decoding failed: ") + ex.what();
      fail_all(e);
      continue;
    }
    ++steps_;
    max_batch_ = std::max(max_batch_.load(), static_cast<int>(seqs.size()));
    metrics_.on_step(static_cast<int64_t>(seqs.size()));
    metrics_.on_tokens(static_cast<int64_t>(seqs.size()), Clock::now());

    std::vector<bool> done(slots_.size(), false);
    for (size_t i = 0; i < slots_.size(); ++i) done[i] = on_token(*slots_[i], next[i]);
    size_t k = 0;
    std::erase_if(slots_, [&](const auto&) { return done[k++]; });
    busy_ = static_cast<int>(slots_.size());
  }
}

bool Batcher::on_token(Slot& s, int32_t id) {
  JobState& st = state_of(s.job.get());
  const bool chat = s.job->kind == GenerationRequest::Kind::Chat;
  ++s.generated;
  ++st.usage.completion_tokens;
  if (!st.first_token) {
    st.first_token = true;
    metrics_.on_first_token(std::chrono::duration<double>(Clock::now() - s.job->enqueued_at).count());
  }
  // A token is reasoning when the think block was open before it (the one completing </think>
  // included), as the <think> split sees the text so far.
  if (chat && s.in_reasoning) ++st.usage.reasoning_tokens;
  record_logprobs(s, id);
  if (backend_.is_eos(id)) {
    finish(s, FinishReason::Stop, "", "", false);
    return true;
  }
  std::string text = s.stop.push(s.detok->push(id));
  ChunkDelta d;
  d.index = s.index;
  if (chat) {
    auto parts = s.think.push(text);
    d.reasoning_content = std::move(parts.reasoning);
    d.content = std::move(parts.content);
    if (!text.empty()) s.in_reasoning = engine::reasoning_open(s.think);
  } else {
    d.content = std::move(text);
  }
  if (s.stop.matched()) {
    finish(s, FinishReason::Stop, std::move(d.reasoning_content), std::move(d.content), true);
    return true;
  }
  const bool out_of_room = s.seq->n_past() + 1 > backend_.n_ctx();
  if (s.generated >= s.job->max_tokens || out_of_room) {
    finish(s, FinishReason::Length, std::move(d.reasoning_content), std::move(d.content), false);
    return true;
  }
  if (!d.content.empty() || !d.reasoning_content.empty()) {
    d.role = chat && !s.sent_role;
    s.sent_role = true;
    d.logprobs = s.job->sampling.top_logprobs >= 0;
    d.token_logprobs = std::move(s.logprobs);
    s.logprobs.clear();
    JobEvent ev;
    ev.delta = std::move(d);
    s.job->push(std::move(ev));
  }
  apply_budget(s);
  return false;
}

void Batcher::record_logprobs(Slot& s, int32_t id) {
  // EOS has no text: OpenAI and vLLM leave it out of the log-probs.
  if (s.job->sampling.top_logprobs < 0 || backend_.is_eos(id)) return;
  TokenLogprobs t;
  t.token = backend_.token_bytes(id);
  t.logprob = s.seq->logprob;
  t.text_offset = s.text_offset;
  s.text_offset += static_cast<int64_t>(t.token.size());
  t.top.reserve(s.seq->top_logprobs.size());
  for (const auto& alt : s.seq->top_logprobs) t.top.emplace_back(backend_.token_bytes(alt.id), alt.logprob);
  s.logprobs.push_back(std::move(t));
}

void Batcher::apply_budget(Slot& s) {
  if (const int32_t forced = s.budget.next(s.in_reasoning); forced >= 0) s.seq->force(forced);
}

void Batcher::finish(Slot& s, FinishReason why, std::string tail_reasoning,
                     std::string tail_content, bool stop_string) {
  const bool chat = s.job->kind == GenerationRequest::Kind::Chat;
  ChunkDelta d;
  d.index = s.index;
  d.finish = why;
  d.reasoning_content = std::move(tail_reasoning);
  d.content = std::move(tail_content);
  // Release what is still held (undecoded bytes, a partial stop-string prefix, a partial tag),
  // unless a stop string matched: nothing after it may be emitted.
  std::string tail;
  if (!stop_string) {
    tail = s.stop.push(s.detok->flush());
    tail += s.stop.flush();  // "" when the flushed bytes completed a stop string
  }
  if (chat) {
    auto a = s.think.push(tail);
    auto b = s.think.finish();
    d.reasoning_content += a.reasoning + b.reasoning;
    d.content += a.content + b.content;
  } else {
    d.content += tail;
  }
  d.role = chat && !s.sent_role;
  s.sent_role = true;
  d.logprobs = s.job->sampling.top_logprobs >= 0;
  d.token_logprobs = std::move(s.logprobs);
  s.logprobs.clear();
  JobEvent ev;
  ev.delta = std::move(d);
  s.job->push(std::move(ev));

  JobState& st = state_of(s.job.get());
  if (--st.remaining == 0) {
    JobEvent done;
    done.kind = JobEvent::Kind::Done;
    done.usage = st.usage;
    s.job->push(std::move(done));
    const Job* key = s.job.get();
    std::erase_if(jobs_, [&](const auto& p) { return p.first.get() == key; });
  }
}

void Batcher::fail_all(const ApiError& e) {
  for (auto& [job, st] : jobs_) {
    JobEvent ev;
    ev.kind = JobEvent::Kind::Failed;
    ev.error = e;
    job->push(std::move(ev));
  }
  jobs_.clear();
  slots_.clear();
  busy_ = 0;
}

}  // namespace r1::server
