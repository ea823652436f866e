// One generated sequence's state between forward passes: sampling (the engine's sampler and a
// per-sequence seeded Rng), streaming valid UTF-8, and the stop rules (EOS, stop strings, max
// tokens, a full context, the thinking budget, cancellation). It holds no model and runs no
// forward pass: engine::Scheduler (scheduler.h), the only decode loop, feeds it logits.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "engine/constraint.h"
#include "engine/sampler.h"
#include "engine/stop_strings.h"
#include "engine/thinking_budget.h"
#include "models/model.h"
#include "tokenizer/tokenizer.h"

namespace r1::engine {

/// Why a sequence ended. Names (finish_reason_name) follow OpenAI's finish_reason.
enum class FinishReason {
  None,       // still running
  Stop,       // an EOS id or a stop string
  Length,     // max_tokens reached, or the context is full
  Error,      // non-finite logits (the message says which id); the text so far is kept
  Cancelled,  // the stream callback asked to stop, or Scheduler::cancel (the client went away)
};

/// "stop", "length", "error", "cancelled" ("" for None).
const char* finish_reason_name(FinishReason r);

struct GenerateOptions {
  SamplerOptions sampling;
  int64_t max_tokens = -1;            // generated tokens at most; < 0: until EOS/stop/context full
  std::vector<std::string> stop;      // stop strings, matched on decoded text, never emitted
  std::vector<int32_t> eos_ids;       // ids that end generation (their text is not emitted)
  bool ignore_eos = false;            // keep going past EOS ids (benchmarks)
  // Thinking budget (thinking_budget.h): after this many sampled tokens inside <think>, the
  // closing `think_end_ids` are forced. < 0: unlimited.
  int64_t thinking_budget = -1;
  std::vector<int32_t> think_end_ids;  // think_end_ids(tok) when thinking_budget >= 0
  bool starts_in_reasoning = false;    // the prompt opened <think> (tok::prompt_ends_in_reasoning)
  // Log-probs recorded per generated token (forced ones included) into GenerateResult:
  int32_t top_logprobs = -1;       // >= 0: raw log_softmax log-prob and this many alternatives
  bool sampling_logprobs = false;  // log-prob under the sampling distribution, and its entropy
  // Constrained decoding (constraint.h): applied once the reasoning block is closed (from the
  // first token when the output does not open one). One object per sequence, never shared.
  std::shared_ptr<TokenConstraint> constraint;
};

/// Receives, for each generated token, the text it released (complete UTF-8; may be empty while
/// bytes are held back for an incomplete character or a possible stop string) and its id; a final
/// call with token -1 carries whatever was still held back when the sequence ended. Returning
/// false cancels the sequence (FinishReason::Cancelled).
using StreamCallback = std::function<bool(std::string_view text, int32_t token)>;

/// One generated sequence: what it produced and how fast.
struct GenerateResult {
  std::vector<int32_t> tokens;  // generated ids, including an EOS id that ended generation
  std::string text;             // all emitted text (no EOS text, nothing from a stop string on)
  FinishReason finish_reason = FinishReason::None;
  std::string error;            // set when finish_reason == Error
  int stop_index = -1;          // which stop string matched, -1 if none
  // GenerateOptions::top_logprobs >= 0: per token, log_softmax_top of the raw logits row it was
  // chosen from (the chosen id's log-prob, then the alternatives, most likely first).
  std::vector<float> token_logprobs;
  std::vector<std::vector<TokenLogprob>> top_logprobs;
  // GenerateOptions::sampling_logprobs: per token, log softmax(logits / T)[id] with T the
  // sampling temperature (1 when greedy), untruncated (what GRPO's importance ratio needs), and
  // the sum over tokens of that distribution's entropy (nats).
  std::vector<double> sampling_logprobs;
  double entropy_sum = 0.0;
  int64_t prompt_tokens = 0;    // prompt length
  int64_t cached_tokens = 0;    // prompt tokens reused from the session's cache (not recomputed)
  double prompt_ms = 0.0;       // the prefill forward pass (tokens prompt - cached)
  int64_t decode_steps = 0;     // decode forward passes (one token each) after the prefill
  double decode_ms = 0.0;       // time from the end of prefill to the end, sampling included
                                // (with other sequences in the batch: the batch's steps)
  /// Prefill throughput: computed prompt tokens per second (0 when nothing was computed).
  double prompt_tokens_per_s() const;
  /// Decode throughput like llama.cpp's "eval": decode_steps per second of decode_ms.
  double gen_tokens_per_s() const;
};

/// The state of one sequence between forward passes: its sampler RNG, history (for the
/// repetition penalty), stream decoder and stop matcher. Feed it the logits of each forward pass
/// with `accept`; it samples the next token, emits text and decides whether the sequence ended.
/// The tokenizer must outlive it.
class Sequence {
 public:
  /// `prompt`: the full prompt ids (for the penalty history and the context budget);
  /// `n_ctx`: the session's capacity in tokens. Preconditions are checked by check_prompt.
  Sequence(const tok::Tokenizer& tok, GenerateOptions opts, std::span<const int32_t> prompt,
           int64_t n_ctx);

  /// Samples from `logits` [V] (the prediction after the last fed token), records the token,
  /// streams its text through `cb` and updates finished(). After it returns, if !finished(), the
  /// caller feeds next_token() through the model and calls accept again with the new logits.
  /// `ws`: per-thread scratch. Cost: O(V) for sampling plus O(text) for the stop matcher.
  void accept(std::span<const float> logits, SamplerWorkspace& ws, const StreamCallback& cb);

  /// Ends the sequence early (e.g. the server shuts down) and flushes held text through `cb`.
  void cancel(const StreamCallback& cb);
  /// Ends the sequence with `reason` before any token (max_tokens 0), flushing nothing.
  void end_before_start(FinishReason reason) { result_.finish_reason = reason; }

  bool finished() const { return result_.finish_reason != FinishReason::None; }
  /// The last sampled token: the next one to feed (valid after an accept that did not finish).
  int32_t next_token() const { return result_.tokens.back(); }
  const GenerateResult& result() const { return result_; }
  GenerateResult& mutable_result() { return result_; }

 private:
  void finish(FinishReason reason, const StreamCallback& cb);
  // The next token under opts_.constraint: the free sample when allowed, else a sample of the
  // masked logits, else the forced completion. -1: nothing can follow (end the sequence).
  Result<int32_t> sample_constrained(std::span<const float> logits, SamplerWorkspace& ws,
                                     bool& bypass);
  int64_t remaining_tokens() const;

  GenerateOptions opts_;
  const tok::Tokenizer& tok_;
  Rng rng_;
  std::vector<int32_t> history_;  // prompt + generated, for the repetition penalty
  int64_t n_ctx_;
  tok::ReasoningParser think_;    // whether the output is inside <think> (thinking budget only)
  ThinkingBudget budget_;
  tok::StreamDecoder decoder_;
  StopMatcher stop_;
  GenerateResult result_;
  std::vector<int32_t> forced_;   // the constraint's completion still to emit
};

/// Checks that a prompt of `n_prompt` tokens leaves room to generate in a context of `n_ctx`
/// tokens (the prompt plus at least one generated token must fit). Errors: empty prompt, or
/// "prompt is P tokens but the context holds N" with the numbers.
Result<void> check_prompt(int64_t n_prompt, int64_t n_ctx);

}  // namespace r1::engine
