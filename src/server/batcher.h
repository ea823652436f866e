// The engine adapter: continuous batching. One scheduler thread owns up to `parallel` decode
// slots; each step it drops cancelled jobs (freeing their slots at once), admits waiting jobs into
// free slots, advances every active sequence by one token through Backend::step, and turns the
// tokens into text events (detokenize -> stop strings -> <think> split by tok::ReasoningParser)
// for each job's waiter, with the tokens' log-probs when asked for; the thinking budget forces
// the end of the reasoning block through Sequence::force.
// Requests join and leave between steps; none waits for another to finish.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/stop_strings.h"
#include "engine/thinking_budget.h"
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
  /// Decode steps run so far (tests use it to check that sequences share steps).
  int64_t steps() const { return steps_.load(); }
  /// Most sequences ever advanced in one step.
  int max_batch() const { return max_batch_.load(); }

 private:
  // One choice of a job being decoded.
  struct Slot {
    std::shared_ptr<Job> job;
    int index = 0;  // choice index
    std::unique_ptr<Sequence> seq;
    std::unique_ptr<Detokenizer> detok;
    engine::StopMatcher stop;
    // DeepSeek-API style split: newlines around the tags stripped; a prompt that ends in <think>
    // starts the output inside the block.
    tok::ReasoningParser think;
    bool in_reasoning;      // text pushed now would be reasoning (counts reasoning_tokens)
    engine::ThinkingBudget budget;
    int64_t generated = 0;  // tokens sampled for this choice
    bool sent_role = false;
    std::vector<TokenLogprobs> logprobs;  // of tokens not yet sent with a delta
    int64_t text_offset = 0;              // bytes of the tokens so far (completions' text_offset)
    Slot(std::shared_ptr<Job> j, int i, engine::StopMatcher s, bool opens_think,
         engine::ThinkingBudget b)
        : job(std::move(j)), index(i), stop(std::move(s)), think(opens_think),
          in_reasoning(opens_think), budget(std::move(b)) {}
  };
  // Per-job bookkeeping shared by its choices.
  struct JobState {
    int remaining = 0;  // choices not finished
    Usage usage;
    bool first_token = false;
  };

  void run();
  void admit(const std::shared_ptr<Job>& job);
  // Feeds one sampled token through the text pipeline; returns true when the choice finished.
  bool on_token(Slot& s, int32_t id);
  // Records the log-probs of the token just sampled (when the job asked for them).
  void record_logprobs(Slot& s, int32_t id);
  // Before the slot's next token: forces it when the thinking budget is spent.
  void apply_budget(Slot& s);
  // Ends a choice: emits its last delta (with the tail text and the finish reason) and, when it
  // was the job's last choice, the Done event. stop_string: a stop string matched (drop the rest).
  void finish(Slot& s, FinishReason why, std::string tail_reasoning, std::string tail_content,
              bool stop_string);
  void fail_all(const ApiError& e);

  Backend& backend_;
  AdmissionQueue& queue_;
  Metrics& metrics_;
  const int parallel_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<int> busy_{0};
  std::atomic<int64_t> steps_{0};
  std::atomic<int> max_batch_{0};
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  // Scheduler-thread state.
  std::vector<std::unique_ptr<Slot>> slots_;
  std::vector<std::pair<std::shared_ptr<Job>, JobState>> jobs_;
  JobState& state_of(const Job* j);
};

}  // namespace r1::server
