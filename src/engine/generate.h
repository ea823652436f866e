// Text generation over a CausalLM: prefill the prompt in one batched pass, then decode one token
// at a time, sampling, streaming valid UTF-8 and stopping on EOS, stop strings, max tokens or a
// full context. The per-sequence part (Sequence) holds no model and runs no forward pass, so a
// batched scheduler (server, GRPO group sampling) advances many Sequences with one batched forward
// per step and reuses all of it; `generate` is the single-sequence loop built from the same pieces.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
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
  Cancelled,  // the stream callback asked to stop (e.g. the client went away)
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
  int64_t prompt_tokens = 0;    // prompt length
  int64_t cached_tokens = 0;    // prompt tokens reused from the session's cache (not recomputed)
  double prompt_ms = 0.0;       // the prefill forward pass (tokens prompt - cached)
  int64_t decode_steps = 0;     // single-token forward passes after the prefill
  double decode_ms = 0.0;       // time from the end of prefill to the end, sampling included
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

  bool finished() const { return result_.finish_reason != FinishReason::None; }
  /// The last sampled token: the next one to feed (valid after an accept that did not finish).
  int32_t next_token() const { return result_.tokens.back(); }
  const GenerateResult& result() const { return result_; }
  GenerateResult& mutable_result() { return result_; }

 private:
  void finish(FinishReason reason, const StreamCallback& cb);

  const tok::Tokenizer* tok_;
  GenerateOptions opts_;
  Rng rng_;
  std::vector<int32_t> history_;  // prompt + generated, for the repetition penalty
  int64_t n_ctx_;
  tok::ReasoningParser think_;    // whether the output is inside <think> (thinking budget only)
  ThinkingBudget budget_;
  tok::StreamDecoder decoder_;
  StopMatcher stop_;
  GenerateResult result_;
};

/// Checks that a prompt of `n_prompt` tokens leaves room to generate in a context of `n_ctx`
/// tokens (the prompt plus at least one generated token must fit). Errors: empty prompt, or
/// "prompt is P tokens but the context holds N" with the numbers.
Result<void> check_prompt(int64_t n_prompt, int64_t n_ctx);

/// A model session plus the ids its KV cache holds, so that a new prompt sharing a prefix with
/// them (the next chat turn, a repeated system prompt) only computes the new part.
struct CachedSession {
  std::unique_ptr<models::Session> session;
  std::vector<int32_t> tokens;  // exactly the positions in the cache: tokens.size() == n_past()
};

/// Brings `cs` to hold `prompt` minus its last token reused where possible, then runs the rest of
/// the prompt through the model in one batched forward, writing the last position's logits to
/// `logits` [V]. Returns the number of prompt tokens reused from the cache. Preconditions:
/// check_prompt(prompt.size(), n_ctx) passed; logits.size() == V.
int64_t prefill(models::CausalLM& model, CachedSession& cs, std::span<const int32_t> prompt,
                std::span<float> logits);

/// Generates one sequence: check_prompt (error before any compute), prefill (reusing cs's cached
/// prefix), then decode until a finish reason. Text streams through `cb` (may be empty). Errors
/// (Result): only prompt problems; non-finite logits end with FinishReason::Error in the result.
/// On return, cs.tokens mirrors the cache (prompt + all generated tokens but the last).
Result<GenerateResult> generate(models::CausalLM& model, CachedSession& cs,
                                const tok::Tokenizer& tok, std::span<const int32_t> prompt,
                                const GenerateOptions& opts, const StreamCallback& cb = {});

}  // namespace r1::engine
