// The engine's one decode loop: continuous batching over a CausalLM. Sequences join and leave
// between steps; each step is ONE CausalLM::forward(Batch) carrying a decode row for every
// running sequence that has a token to feed plus chunks of admitted prompts (chunked prefill,
// after a pooled KV cache's shared prefix) within a token budget, then samples per sequence (engine::Sequence: its own seeded Rng,
// stop strings, max tokens, EOS, thinking budget, log-probs, stream callback). `r1 run`,
// `r1 chat`, `r1 serve`, `r1 eval`, GRPO rollouts and distillation sampling all decode here.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <span>
#include <vector>

#include "core/result.h"
#include "engine/sequence.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace r1::engine {

struct SchedulerOptions {
  /// Context of every sequence's session, tokens. <= 0: per sequence, the model's context
  /// length, capped at prompt + max_tokens when max_tokens >= 0 (4096 when the model states none).
  int64_t n_ctx = 0;
  /// Sequences decoded together at most; the others wait in arrival order. <= 0: no limit.
  int max_running = 0;
  /// Finished sequences' KV caches kept so that a later prompt sharing their prefix (the next
  /// chat turn, a repeated system prompt) only computes the rest. 0: none kept.
  int max_pooled_sessions = 0;
  /// Token budget of one step: decode rows first (one per decoding sequence, never cut), then
  /// prompt chunks of admitted sequences in arrival order fill the rest (at least one prompt
  /// token per step while any prompt is pending, so prefill always advances). <= 0: no limit.
  int64_t step_tokens = 512;
};

/// One sequence to generate: its prompt ids, options and stream callback (may be empty; called
/// from inside step(), on the scheduler's thread).
struct SequenceRequest {
  std::vector<int32_t> prompt;
  GenerateOptions opts;
  StreamCallback stream;
};

using SeqId = int64_t;

/// Not thread-safe: one thread adds, steps, cancels and reads results (the server's batcher
/// thread, or the caller of run()). The model and tokenizer must outlive it.
class Scheduler {
 public:
  Scheduler(models::CausalLM& model, const tok::Tokenizer& tok, SchedulerOptions opts = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  /// Queues a sequence; it is prefilled at the next step with room to run. Errors (nothing is
  /// queued): an empty prompt, one that leaves no room in its context (check_prompt), an id
  /// outside the model's vocabulary.
  Result<SeqId> add(SequenceRequest req);

  /// Ends a waiting or running sequence now (FinishReason::Cancelled, held text flushed through
  /// its callback) and frees its session. No-op for finished or unknown ids.
  void cancel(SeqId id);

  /// One iteration: admits waiting sequences up to max_running (taking a pooled session sharing
  /// the longest prefix); then ONE forward(Batch) over a decode row of each sequence that has a
  /// token to feed and the next chunk of each pending prompt (within step_tokens); samples the
  /// next token of every decoded sequence and the first of every prompt completed. Finished
  /// sequences leave; their sessions go to the pool or are freed. Cost: the forward plus O(V)
  /// sampling per sampled sequence.
  void step();

  /// Steps until nothing is running or waiting.
  void run();

  /// add + run + take: one sequence on its own (others queued before it run too).
  Result<GenerateResult> generate(std::span<const int32_t> prompt, const GenerateOptions& opts,
                                  const StreamCallback& cb = {});

  bool finished(SeqId id) const;
  /// The sequence's result so far (tokens, text, log-probs, finish reason once finished); valid
  /// until take(). Precondition: id returned by add and not taken.
  const GenerateResult& result(SeqId id) const;
  /// Removes a finished sequence and returns its result. Precondition: finished(id).
  GenerateResult take(SeqId id);

  int running() const { return static_cast<int>(running_.size()); }
  int waiting() const { return static_cast<int>(waiting_.size()); }
  bool idle() const { return running_.empty() && waiting_.empty(); }
  /// Steps whose forward carried decode rows so far, and the most sequences one forward carried.
  int64_t decode_steps() const { return decode_steps_; }
  int max_batch() const { return max_batch_; }
  /// Prompt tokens served from pooled KV caches instead of being recomputed.
  int64_t reused_prompt_tokens() const { return reused_tokens_; }
  /// The session of the sequence that finished last, while the pool holds it (max_pooled_sessions
  /// > 0), e.g. for `r1 run --stats`' per-session expert counts; null otherwise.
  const models::Session* last_pooled_session() const {
    return pool_.empty() ? nullptr : pool_.back().session.get();
  }

 private:
  struct Pooled {
    std::unique_ptr<models::Session> session;
    std::vector<int32_t> tokens;  // exactly what its cache holds: tokens.size() == n_past()
  };
  struct Entry;

  Entry& entry(SeqId id) const;
  void admit(Entry& e);
  // Takes the pooled session sharing the longest prefix of `prompt` (at most P-1 tokens: the last
  // prompt token is always computed, its logits give the first token) with room for n_ctx.
  Pooled acquire(std::span<const int32_t> prompt, int64_t n_ctx);
  void release(Entry& e);
  void retire_finished();

  models::CausalLM& model_;
  const tok::Tokenizer& tok_;
  SchedulerOptions opts_;
  int64_t V_;
  SeqId next_id_ = 0;
  std::map<SeqId, std::unique_ptr<Entry>> entries_;
  std::deque<SeqId> waiting_;
  std::vector<SeqId> running_;
  std::vector<Pooled> pool_;
  SamplerWorkspace ws_;
  // Each step's batch and logits, kept to avoid allocating per step. batch_ids_[i]: the sequence
  // of batch sequence i; batch_sample_[i]: its logits row, or -1 (a prompt chunk not yet done).
  models::Batch batch_;
  std::vector<float> logits_;
  std::vector<SeqId> batch_ids_;
  std::vector<int64_t> batch_sample_;
  int64_t decode_steps_ = 0;
  int max_batch_ = 0;
  int64_t reused_tokens_ = 0;
};

}  // namespace r1::engine
