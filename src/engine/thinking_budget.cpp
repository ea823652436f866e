// Thinking budget state (see thinking_budget.h).
#include "engine/thinking_budget.h"

namespace r1::engine {

std::vector<int32_t> think_end_ids(const tok::Tokenizer& tok) {
  return tok.encode(kThinkEndText, /*add_bos=*/false, /*parse_special=*/true);
}

bool reasoning_open(const tok::ReasoningParser& p) {
  tok::ReasoningParser probe = p;
  probe.finish();
  return probe.reasoning_unclosed();
}

int32_t ThinkingBudget::next(bool open) {
  if (pos_ > 0 && pos_ < end_ids_.size()) return end_ids_[pos_++];  // finish the closing tag
  if (budget_ < 0 || !open || pos_ > 0 || end_ids_.empty()) return -1;
  if (used_ < budget_) {
    ++used_;
    return -1;
  }
  return end_ids_[pos_++];
}

}  // namespace r1::engine
