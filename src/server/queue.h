// The server's queue layer: a Job is one admitted request (its tokenized prompt, limits and an
// event channel back to the HTTP thread that waits on it); the AdmissionQueue holds jobs waiting
// for a decode slot, refuses new ones when too many wait (429) or when shutting down (503), and
// drops jobs whose client went away. Independent of HTTP and of the model (queue_test.cpp).
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "grammar/token_mask.h"
#include "server/schema.h"

namespace r1::server {

using Clock = std::chrono::steady_clock;

/// What the scheduler reports to the waiting HTTP thread, in order: Delta* per choice, then
/// exactly one Done (all choices finished, usage final) or one Failed.
struct JobEvent {
  enum class Kind { Delta, Done, Failed };
  Kind kind = Kind::Delta;
  ChunkDelta delta;  // Kind::Delta: text pieces and/or the choice's finish reason
  Usage usage;       // Kind::Done
  ApiError error;    // Kind::Failed
};

/// Sampling settings resolved from the request and the model's defaults.
struct SamplingParams {
  float temperature = 1.0f;  // 0: greedy
  float top_p = 1.0f;
  uint64_t seed = 0;
  float frequency_penalty = 0.0f;  // OpenAI's (engine::apply_frequency_presence_penalty)
  float presence_penalty = 0.0f;
  int top_logprobs = -1;     // < 0: no log-probs; k >= 0: the chosen token's and the top k
  // vLLM / llama-server extensions; < 0: the backend's sampler default.
  int32_t top_k = -1;
  float min_p = -1.0f;
  float repeat_penalty = -1.0f;
};

/// One admitted request: everything the scheduler needs, and the channel back to the client.
/// Shared by the HTTP thread (waits, may cancel) and the scheduler thread (emits events).
class Job {
 public:
  Job() : enqueued_at(Clock::now()) {}

  // Set by the HTTP thread before submit; read-only afterwards.
  GenerationRequest::Kind kind = GenerationRequest::Kind::Chat;
  std::vector<int32_t> prompt_tokens;  // [P] the rendered, tokenized prompt
  bool prompt_opens_think = false;     // the chat template ended the prompt inside <think>
  int64_t max_tokens = 0;              // per choice, >= 1, prompt + max_tokens <= n_ctx
  int n = 1;                           // choices; each takes one decode slot
  std::vector<std::string> stop;
  SamplingParams sampling;             // choice i uses seed + i
  int64_t max_reasoning_tokens = -1;   // thinking budget per choice (chat); < 0: unlimited
  // Structured output (response_format, grammar): each choice's output is a sentence of it.
  std::shared_ptr<grammar::CompiledGrammar> grammar;
  Clock::time_point enqueued_at;

  /// Scheduler side: appends an event and wakes the waiter. Thread-safe.
  void push(JobEvent ev);
  /// HTTP side: waits up to `timeout` for events and moves all pending ones into `out`
  /// (returns false on timeout with nothing new). Thread-safe.
  bool wait_events(std::vector<JobEvent>& out, std::chrono::milliseconds timeout);

  /// Marks the job abandoned (client disconnected, server shutting down). The scheduler frees its
  /// slots before its next step. Idempotent, thread-safe, lock-free.
  void cancel() { cancelled_.store(true, std::memory_order_relaxed); }
  bool cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<JobEvent> events_;
  std::atomic<bool> cancelled_{false};
};

/// FIFO of jobs waiting for decode slots. A job needs `n` free slots at once; the scheduler takes
/// from the head only (no overtaking, so big jobs cannot starve).
class AdmissionQueue {
 public:
  /// max_waiting: most jobs that may wait (not yet in a slot); one more is refused with 429.
  explicit AdmissionQueue(size_t max_waiting) : max_waiting_(max_waiting) {}

  enum class Admit { Ok, QueueFull, ShuttingDown };
  /// Enqueues the job unless the queue is full or closed. Thread-safe.
  Admit submit(std::shared_ptr<Job> job);

  /// Scheduler side: pops head jobs while their n fits in `free_slots` (cancelled ones are
  /// dropped on the way). With `wait` > 0 and nothing to take, blocks up to `wait` for a submit
  /// or close. Thread-safe.
  std::vector<std::shared_ptr<Job>> take(int free_slots, std::chrono::milliseconds wait);

  /// Refuses further submits (503) and wakes a blocked take(). Waiting jobs stay until taken or
  /// drained.
  void close();
  bool closed() const;
  /// Removes and returns every waiting job (shutdown: the caller fails them).
  std::vector<std::shared_ptr<Job>> drain();
  /// Jobs waiting now (cancelled ones included until a take() drops them).
  size_t size() const;
  /// Wakes a blocked take() (e.g. a cancelled job's slots should be reclaimed).
  void notify();

 private:
  const size_t max_waiting_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Job>> waiting_;
  bool closed_ = false;
};

}  // namespace r1::server
