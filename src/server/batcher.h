// The engine adapter: one thread owns an engine::Scheduler (the engine's continuous-batching
// decode loop) with up to `parallel` sequences. Each iteration it cancels the sequences of jobs
// whose client went away (freeing their slots at once), admits waiting jobs into free slots (one
// sequence per choice, seed + i), runs one scheduler step, and turns each sequence's stream
// (text already cut at stop strings, EOS, max tokens, a full context, with the thinking budget
// forced by the engine) into events for the job's waiter: the <think> split by
// tok::ReasoningParser, usage counts and log-probs. Requests join and leave between steps.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/scheduler.h"
#include "server/backend.h"
#include "server/metrics.h"
#include "server/queue.h"
#include "tokenizer/reasoning.h"

namespace r1::server {

class Batcher {
 public:
  /// parallel: decode slots (sequences advanced together per step), >= 1.
  /// The backend, queue and metrics must outlive the batcher.
  Batcher(Backend& backend, AdmissionQueue& queue, Metrics& metrics, int parallel);
  ~Batcher();  // stops and joins the thread (in-flight jobs are failed)
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  /// Starts the scheduler thread.
  void start();
  /// Waits until no job is active or waiting, up to `timeout`; true when idle.
  bool wait_idle(std::chrono::milliseconds timeout);
  /// Stops the thread: active and waiting jobs get a Failed event (503, "server shutting down").
  void stop();

  int parallel() const { return parallel_; }
  /// Sequences being decoded now.
  int busy_slots() const { return busy_.load(); }
  /// Scheduler steps run so far (tests use it to check that sequences share steps).
  int64_t steps() const { return steps_.load(); }
  /// Most sequences ever advanced in one step.
  int max_batch() const { return max_batch_.load(); }
  /// Prompt tokens served from pooled KV caches instead of being recomputed.
  int64_t reused_prompt_tokens() const { return reused_.load(); }

 private:
  struct JobState;
  // One choice of a job: its engine sequence and the presentation state of its stream.
  struct Choice {
    JobState* job = nullptr;
    int index = 0;
    engine::SeqId id = -1;
    // DeepSeek-API style split: newlines around the tags stripped; a prompt that ends in <think>
    // starts the output inside the block.
    tok::ReasoningParser think;
    bool in_reasoning;       // text pushed now would be reasoning (counts reasoning_tokens)
    int64_t streamed = 0;    // tokens reported by the stream (all but an EOS)
    bool sent_role = false;
    bool ended = false;      // the engine finished it (its result is taken after the step)
    std::vector<TokenLogprobs> logprobs;  // of tokens not yet sent with a delta
    int64_t text_offset = 0;              // bytes of the tokens so far (completions' text_offset)
    explicit Choice(bool opens_think) : think(opens_think), in_reasoning(opens_think) {}
  };
  // Per-job bookkeeping shared by its choices.
  struct JobState {
    std::shared_ptr<Job> job;
    std::vector<std::unique_ptr<Choice>> choices;
    int remaining = 0;  // choices not finished
    Usage usage;
    bool first_token = false;
  };

  void run();
  void admit(const std::shared_ptr<Job>& job);
  // The stream callback of a choice: one call per generated token (its released text), then a
  // final one (token -1) with the held-back tail once the engine finished the sequence.
  bool on_stream(Choice& c, std::string_view text, int32_t token);
  void count_token(Choice& c);
  void send(Choice& c, ChunkDelta d);
  // Ends a choice: emits its last delta (the tail text and the finish reason) and, when it was
  // the job's last choice, the Done event.
  void finish(Choice& c, std::string tail);
  // Takes the finished choices' results out of the scheduler and drops finished jobs.
  void collect();
  void cancel_job(JobState& st);
  void fail_all(const ApiError& e);
  std::unique_ptr<engine::Scheduler> new_scheduler();

  Backend& backend_;
  AdmissionQueue& queue_;
  Metrics& metrics_;
  const int parallel_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> busy_{0};
  std::atomic<int64_t> steps_{0};
  std::atomic<int> max_batch_{0};
  std::atomic<int64_t> reused_{0};
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  // Scheduler-thread state.
  std::unique_ptr<engine::Scheduler> sched_;
  std::vector<std::unique_ptr<JobState>> jobs_;
};

}  // namespace r1::server
