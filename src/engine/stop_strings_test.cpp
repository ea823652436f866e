// StopMatcher: every split of a text into pieces must release exactly the text before the first
// stop string (checked against std::string::find on the whole text), never the stop string.
#include "engine/stop_strings.h"

#include <gtest/gtest.h>

namespace r1::engine {
namespace {

// Feeds `text` split at the given cut positions; returns the released text and whether a stop
// string matched.
std::pair<std::string, bool> feed(const std::vector<std::string>& stops, const std::string& text,
                                  const std::vector<size_t>& cuts) {
  StopMatcher m(stops);
  std::string out;
  size_t prev = 0;
  for (size_t c : cuts) {
    out += m.push(text.substr(prev, c - prev));
    prev = c;
  }
  out += m.push(text.substr(prev));
  out += m.flush();
  return {out, m.matched()};
}

TEST(StopMatcher, AllTwoAndThreeWaySplits) {
  const std::vector<std::string> stops = {"</answer>", "\n\nUser:", "xx"};
  for (const std::string text : {"The answer is 4</answer> and more", "no stop here at all <",
                                 "a\n\nUser: hi", "<</ans</answer>", "x yxx", "ends with </ans"}) {
    // Expected: cut at the earliest occurrence of any stop string.
    size_t first = std::string::npos;
    for (const auto& s : stops) first = std::min(first, text.find(s));
    const std::string want = text.substr(0, first);
    for (size_t i = 0; i <= text.size(); ++i) {
      for (size_t j = i; j <= text.size(); ++j) {
        auto [got, matched] = feed(stops, text, {i, j});
        EXPECT_EQ(got, want) << "text='" << text << "' cuts " << i << "," << j;
        EXPECT_EQ(matched, first != std::string::npos);
      }
    }
  }
}

TEST(StopMatcher, HoldsBackOnlyWhatCouldMatch) {
  StopMatcher m({"STOP"});
  EXPECT_EQ(m.push("hello S"), "hello ");
  EXPECT_EQ(m.push("T"), "");
  EXPECT_EQ(m.push("x"), "STx");  // "STx" can no longer start "STOP"
  EXPECT_EQ(m.push("ST"), "");
  EXPECT_EQ(m.push("OP tail"), "");
  EXPECT_TRUE(m.matched());
  EXPECT_EQ(m.matched_index(), 0);
  EXPECT_EQ(m.push("more"), "");
  EXPECT_EQ(m.flush(), "");
}

TEST(StopMatcher, NoStopsPassesThrough) {
  StopMatcher m({"", ""});
  EXPECT_EQ(m.push("abc"), "abc");
  EXPECT_FALSE(m.matched());
}

TEST(StopMatcher, Utf8StopHeldOnCharacterBoundary) {
  StopMatcher m({"\xE3\x80\x82\xE3\x80\x82"});  // "。。"
  EXPECT_EQ(m.push("\xE4\xBD\xA0\xE3\x80\x82"), "\xE4\xBD\xA0");  // "你。": holds "。"
  EXPECT_EQ(m.push("\xE5\xA5\xBD"), "\xE3\x80\x82\xE5\xA5\xBD");
  EXPECT_EQ(m.push("\xE3\x80\x82\xE3\x80\x82!"), "");
  EXPECT_TRUE(m.matched());
}

}  // namespace
}  // namespace r1::engine
