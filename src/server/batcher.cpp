// The server's adapter over engine::Scheduler (see batcher.h).
#include "server/batcher.h"

#include <algorithm>
#include <exception>

#include "engine/thinking_budget.h"

namespace r1::server {

Batcher::Batcher(Backend& backend, AdmissionQueue& queue, Metrics& metrics, int parallel)
    : backend_(backend), queue_(queue), metrics_(metrics), parallel_(std::max(1, parallel)),
      sched_(new_scheduler()) {}

Batcher::~Batcher() { stop(); }

std::unique_ptr<engine::Scheduler> Batcher::new_scheduler() {
  engine::SchedulerOptions so;
  so.n_ctx = backend_.n_ctx();
  so.max_pooled_sessions = backend_.max_pooled_sessions();
  // Admission below never adds more than `parallel` sequences, so all of them run.
  return std::make_unique<engine::Scheduler>(backend_.model(), backend_.tokenizer(), so);
}

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

void Batcher::admit(const std::shared_ptr<Job>& job) {
  auto st = std::make_unique<JobState>();
  st->job = job;
  st->usage.prompt_tokens = static_cast<int64_t>(job->prompt_tokens.size());
  const bool chat = job->kind == GenerationRequest::Kind::Chat;
  engine::SamplerOptions sampling = backend_.sampler_defaults();
  sampling.temperature = job->sampling.temperature;
  sampling.top_p = job->sampling.top_p;
  sampling.frequency_penalty = job->sampling.frequency_penalty;
  sampling.presence_penalty = job->sampling.presence_penalty;
  if (job->sampling.top_k >= 0) sampling.top_k = job->sampling.top_k;
  if (job->sampling.min_p >= 0.0f) sampling.min_p = job->sampling.min_p;
  if (job->sampling.repeat_penalty > 0.0f) sampling.repeat_penalty = job->sampling.repeat_penalty;
  for (int i = 0; i < job->n; ++i) {
    auto c = std::make_unique<Choice>(job->prompt_opens_think);
    c->job = st.get();
    c->index = i;
    engine::SequenceRequest req;
    req.prompt = job->prompt_tokens;
    req.opts.sampling = sampling;
    req.opts.sampling.seed = job->sampling.seed + static_cast<uint64_t>(i);
    req.opts.max_tokens = job->max_tokens;
    req.opts.stop = job->stop;
    req.opts.eos_ids = backend_.eos_ids();
    req.opts.top_logprobs = job->sampling.top_logprobs;
    req.opts.starts_in_reasoning = job->prompt_opens_think;
    if (chat && job->max_reasoning_tokens >= 0) {  // completions are never forced
      req.opts.thinking_budget = job->max_reasoning_tokens;
      req.opts.think_end_ids = backend_.think_end_tokens();
    }
    if (job->grammar) {
      req.opts.constraint = std::make_shared<GrammarConstraint>(
          job->grammar, backend_.token_table(), backend_.tokenizer(), backend_.eos_ids());
    }
    Choice* cp = c.get();
    req.stream = [this, cp](std::string_view text, int32_t token) { return on_stream(*cp, text, token); };
    auto id = sched_->add(std::move(req));
    if (!id.ok()) {
      // Only the prompt can be refused (empty, too long, ids out of range), and the choices share
      // it: the first one fails, before anything was added.
      JobEvent ev;
      ev.kind = JobEvent::Kind::Failed;
      ev.error.status = 400;
      ev.error.type = "invalid_request_error";
      ev.error.message = "could not start the sequence: " + id.message();
      job->push(std::move(ev));
      return;
    }
    c->id = *id;
    st->choices.push_back(std::move(c));
  }
  st->remaining = job->n;
  metrics_.on_prompt_tokens(st->usage.prompt_tokens);
  jobs_.push_back(std::move(st));
}

void Batcher::cancel_job(JobState& st) {
  for (auto& c : st.choices) {
    if (c->id < 0) continue;
    sched_->cancel(c->id);  // its stream is silent: the job is cancelled
    sched_->take(c->id);
    c->id = -1;
  }
}

void Batcher::collect() {
  for (auto& st : jobs_) {
    for (auto& c : st->choices) {
      if (c->ended && c->id >= 0) {
        sched_->take(c->id);
        c->id = -1;
      }
    }
  }
  std::erase_if(jobs_, [](const auto& st) { return st->remaining == 0; });
}

void Batcher::run() {
  while (!stop_) {
    // Cancelled jobs (client gone) leave before the step, so their slots are free for admission.
    for (auto& st : jobs_) {
      if (st->job->cancelled()) {
        cancel_job(*st);
        st->remaining = 0;
      }
    }
    collect();

    const int free_slots = parallel_ - sched_->running() - sched_->waiting();
    const auto wait = sched_->idle() ? std::chrono::milliseconds(50) : std::chrono::milliseconds(0);
    for (auto& job : queue_.take(free_slots, wait)) admit(job);
    const int n = sched_->running() + sched_->waiting();
    busy_ = n;
    metrics_.set_busy_slots(n);
    metrics_.set_queue_length(static_cast<int64_t>(queue_.size()));
    if (n == 0) {
      idle_cv_.notify_all();
      continue;
    }
    // Counted before the step: a job's Done event (pushed from inside it) must find its step and
    // tokens in the metrics already.
    max_batch_ = std::max(max_batch_.load(), n);
    metrics_.on_step(n);
    try {
      sched_->step();
    } catch (const std::exception& ex) {
      ApiError e;
      e.status = 500;
      e.type = "server_error";
      e.message = std::string("decoding failed: ") + ex.what();
      fail_all(e);
      continue;
    }
    ++steps_;
    reused_ = sched_->reused_prompt_tokens();
    collect();
    busy_ = sched_->running();
  }
}

void Batcher::count_token(Choice& c) {
  JobState& st = *c.job;
  ++st.usage.completion_tokens;
  metrics_.on_tokens(1, Clock::now());
  if (!st.first_token) {
    st.first_token = true;
    metrics_.on_first_token(std::chrono::duration<double>(Clock::now() - st.job->enqueued_at).count());
  }
  // A token is reasoning when the think block was open before it (the one completing </think>
  // included), as the <think> split sees the text so far.
  if (st.job->kind == GenerationRequest::Kind::Chat && c.in_reasoning) ++st.usage.reasoning_tokens;
}

bool Batcher::on_stream(Choice& c, std::string_view text, int32_t token) {
  if (c.job->job->cancelled()) return false;  // the engine ends it; cancel_job drops the job
  const engine::GenerateResult& r = sched_->result(c.id);
  if (token < 0) {
    // The sequence ended. A token the stream did not report is the EOS that ended it: counted,
    // without text and without log-probs (OpenAI and vLLM leave EOS out).
    for (auto n = static_cast<int64_t>(r.tokens.size()); c.streamed < n; ++c.streamed) count_token(c);
    finish(c, std::string(text));
    return true;
  }
  count_token(c);
  ++c.streamed;
  if (c.job->job->sampling.top_logprobs >= 0) {
    TokenLogprobs t;
    t.token = backend_.token_bytes(token);
    t.logprob = r.token_logprobs.back();
    t.text_offset = c.text_offset;
    c.text_offset += static_cast<int64_t>(t.token.size());
    for (const auto& alt : r.top_logprobs.back()) t.top.emplace_back(backend_.token_bytes(alt.id), alt.logprob);
    c.logprobs.push_back(std::move(t));
  }
  ChunkDelta d;
  d.index = c.index;
  if (c.job->job->kind == GenerationRequest::Kind::Chat) {
    auto parts = c.think.push(text);
    d.reasoning_content = std::move(parts.reasoning);
    d.content = std::move(parts.content);
    if (!text.empty()) c.in_reasoning = engine::reasoning_open(c.think);
  } else {
    d.content = std::string(text);
  }
  if (!d.content.empty() || !d.reasoning_content.empty()) send(c, std::move(d));
  return true;
}

void Batcher::send(Choice& c, ChunkDelta d) {
  d.role = c.job->job->kind == GenerationRequest::Kind::Chat && !c.sent_role;
  c.sent_role = true;
  d.logprobs = c.job->job->sampling.top_logprobs >= 0;
  d.token_logprobs = std::move(c.logprobs);
  c.logprobs.clear();
  JobEvent ev;
  ev.delta = std::move(d);
  c.job->job->push(std::move(ev));
}

void Batcher::finish(Choice& c, std::string tail) {
  const engine::GenerateResult& r = sched_->result(c.id);
  ChunkDelta d;
  d.index = c.index;
  // Non-finite logits end the choice like an EOS (the text so far is kept).
  d.finish = r.finish_reason == engine::FinishReason::Length ? FinishReason::Length : FinishReason::Stop;
  if (c.job->job->kind == GenerationRequest::Kind::Chat) {
    auto a = c.think.push(tail);
    auto b = c.think.finish();
    d.reasoning_content = a.reasoning + b.reasoning;
    d.content = a.content + b.content;
  } else {
    d.content = std::move(tail);
  }
  send(c, std::move(d));
  c.ended = true;
  JobState& st = *c.job;
  if (--st.remaining == 0) {
    JobEvent done;
    done.kind = JobEvent::Kind::Done;
    done.usage = st.usage;
    st.job->push(std::move(done));
  }
}

void Batcher::fail_all(const ApiError& e) {
  for (auto& st : jobs_) {
    JobEvent ev;
    ev.kind = JobEvent::Kind::Failed;
    ev.error = e;
    st->job->push(std::move(ev));
  }
  jobs_.clear();
  sched_ = new_scheduler();  // drops every sequence and session
  busy_ = 0;
}

}  // namespace r1::server
