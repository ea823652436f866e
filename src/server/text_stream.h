// Text post-processing of one generated choice, in the order the scheduler applies it:
// StopMatcher (cut at the first stop string, holding back text that may start one) then
// ThinkSplitter (route text inside <think>...</think> to reasoning_content). Pure, unit-tested.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace r1::server {

/// Finds the first occurrence of any stop string in a stream of text pieces.
class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  struct Out {
    std::string text;      // safe to emit now
    bool stopped = false;  // a stop string was found; `text` ends right before it
  };
  /// Appends a piece. Text that could still be the start of a stop string is held back.
  Out push(std::string_view piece);
  /// Releases held-back text at the end of generation.
  std::string flush();

 private:
  std::vector<std::string> stops_;
  std::string held_;
};

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
