// Reasoning split of one generated choice: the scheduler runs the text through the engine's
// StopMatcher (stop strings) and then through ThinkSplitter, which routes the text inside
// <think>...</think> to reasoning_content. Pure, unit-tested.
#pragma once
#include <string>
#include <string_view>

namespace r1::server {

/// Splits DeepSeek-R1 output into reasoning (between <think> and </think>) and answer content.
/// The R1 chat template ends the prompt with "<think>\n", so generation may start inside the
/// reasoning block (opens_think). Tags split across pieces are held back until decided; an
/// output that does not start with <think> is all content; whitespace after </think> is dropped.
class ThinkSplitter {
 public:
  explicit ThinkSplitter(bool opens_think) : state_(opens_think ? State::Think : State::Start) {}
  struct Out {
    std::string reasoning;
    std::string content;
  };
  Out push(std::string_view piece);
  /// Releases held-back text (an unfinished tag prefix is emitted as text).
  Out flush();
  /// Whether text pushed now would count as reasoning (an undecided start counts as not).
  bool in_think() const { return state_ == State::Think; }

  static constexpr std::string_view kOpen = "<think>";
  static constexpr std::string_view kClose = "</think>";

 private:
  // Start: nothing but whitespace seen yet, <think> may still come. Think: inside the block.
  // AfterThink: just closed; whitespace before the answer is dropped. Content: the answer.
  enum class State { Start, Think, AfterThink, Content };
  State state_;
  std::string held_;
};

}  // namespace r1::server
