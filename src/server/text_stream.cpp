// <think> splitting over streamed text (see text_stream.h).
#include "server/text_stream.h"

#include <algorithm>

namespace r1::server {
namespace {

// Length of the longest suffix of `s` that is a proper prefix of `tag`.
size_t partial_suffix(std::string_view s, std::string_view tag) {
  const size_t max = std::min(s.size(), tag.size() - 1);
  for (size_t k = max; k > 0; --k) {
    if (s.substr(s.size() - k) == tag.substr(0, k)) return k;
  }
  return 0;
}

}  // namespace

ThinkSplitter::Out ThinkSplitter::push(std::string_view piece) {
  held_ += piece;
  Out out;
  for (;;) {
    switch (state_) {
      case State::Start: {
        const size_t lead = held_.find_first_not_of(" \t\r\n");
        if (lead == std::string::npos) return out;  // only whitespace so far
        const std::string_view rest = std::string_view(held_).substr(lead);
        if (rest.starts_with(kOpen)) {
          held_.erase(0, lead + kOpen.size());
          state_ = State::Think;
          continue;
        }
        if (kOpen.starts_with(rest)) return out;  // "<thi": wait for the rest
        state_ = State::Content;
        continue;
      }
      case State::Think: {
        const size_t pos = held_.find(kClose);
        if (pos != std::string::npos) {
          out.reasoning += held_.substr(0, pos);
          held_.erase(0, pos + kClose.size());
          state_ = State::AfterThink;
          continue;
        }
        const size_t keep = partial_suffix(held_, kClose);
        out.reasoning += held_.substr(0, held_.size() - keep);
        held_.erase(0, held_.size() - keep);
        return out;
      }
      case State::AfterThink: {
        const size_t lead = held_.find_first_not_of(" \t\r\n");
        if (lead == std::string::npos) {
          held_.clear();
          return out;
        }
        held_.erase(0, lead);
        state_ = State::Content;
        continue;
      }
      case State::Content:
        out.content += held_;
        held_.clear();
        return out;
    }
  }
}

ThinkSplitter::Out ThinkSplitter::flush() {
  Out out;
  if (state_ == State::Think) {
    out.reasoning += held_;
  } else if (state_ != State::AfterThink) {
    out.content += held_;
  }
  held_.clear();
  return out;
}

}  // namespace r1::server
