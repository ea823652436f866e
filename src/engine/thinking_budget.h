// The thinking budget: after a set number of tokens inside the reasoning block (<think>...), the
// tokens that close it are forced instead of sampled, so a reasoning model must answer (the
// "budget forcing" of Muennighoff et al. 2025, s1: Simple test-time scaling, §3.1; vLLM's and
// Qwen3's thinking budget). Pure state, no model: engine::Sequence (sequence.cpp) drives it token
// by token for `r1 chat --thinking-budget` and the server's max_reasoning_tokens alike.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/reasoning.h"
#include "tokenizer/tokenizer.h"

namespace r1::engine {

/// The text forced to end reasoning: the closing tag with the newlines R1 writes around it.
inline constexpr const char* kThinkEndText = "\n</think>\n\n";

/// The ids of kThinkEndText for `tok` (special tokens parsed, so a vocabulary with a `</think>`
/// token uses it).
std::vector<int32_t> think_end_ids(const tok::Tokenizer& tok);

/// Whether text pushed into `p` now would be reasoning: a finished copy of the parser still has
/// its think block open. Cost: a copy of the parser's few held-back bytes.
bool reasoning_open(const tok::ReasoningParser& p);

class ThinkingBudget {
 public:
  /// budget: sampled tokens allowed inside the think block (< 0: unlimited; 0: close it at once);
  /// end_ids: the closing tokens to force (think_end_ids), non-empty when budget >= 0.
  ThinkingBudget(int64_t budget, std::vector<int32_t> end_ids)
      : budget_(budget), end_ids_(std::move(end_ids)) {}

  /// Called once before each generated token with whether the think block is open at that point
  /// (reasoning_open of the sequence's parser). Returns the id to emit instead of sampling, or -1
  /// to sample. Once the budget is spent the whole closing sequence is forced, token after token,
  /// whatever `open` says meanwhile; it is forced at most once per sequence.
  int32_t next(bool open);

  /// Thinking tokens sampled so far (forced ones excluded).
  int64_t used() const { return used_; }
  /// True once the closing sequence has been (or is being) forced.
  bool forced() const { return pos_ > 0; }

 private:
  int64_t budget_;
  std::vector<int32_t> end_ids_;
  int64_t used_ = 0;
  size_t pos_ = 0;  // closing tokens forced so far
};

}  // namespace r1::engine
