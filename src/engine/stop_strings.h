// Stop strings on streamed text: releases text as soon as it cannot be the start of a stop
// string, holds back a suffix while a stop string may still be completing, and cuts the output
// right before the first stop string found (which itself is never released).
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace r1::engine {

class StopMatcher {
 public:
  /// `stops`: the stop strings (empty ones are ignored).
  explicit StopMatcher(std::vector<std::string> stops = {});

  /// Appends newly decoded text and returns the part that is now safe to emit. Once a stop string
  /// is complete, returns the text before it and matched() becomes true; later pushes return "".
  /// If `text` is valid UTF-8, so is every returned piece (a held-back suffix starts where a
  /// stop string's first character matched, i.e. on a character boundary).
  /// Cost: O(|held| * sum |stop|) per push; the held text is shorter than the longest stop string.
  std::string push(std::string_view text);

  /// Returns the held-back text (a partial match that never completed) and clears it. Returns ""
  /// after a match.
  std::string flush();

  bool matched() const { return matched_; }
  /// Which stop string matched (index into the constructor's list), -1 if none.
  int matched_index() const { return matched_index_; }

 private:
  std::vector<std::string> stops_;
  std::string held_;
  bool matched_ = false;
  int matched_index_ = -1;
};

}  // namespace r1::engine
