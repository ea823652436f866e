// <think> splitting over every way of cutting the text into pieces.
#include "server/text_stream.h"

#include <gtest/gtest.h>

namespace r1::server {
namespace {

std::pair<std::string, std::string> run_think(bool opens, const std::string& text, size_t k) {
  ThinkSplitter s(opens);
  std::string r, c;
  for (size_t i = 0; i < text.size(); i += k) {
    auto o = s.push(std::string_view(text).substr(i, k));
    r += o.reasoning;
    c += o.content;
  }
  auto o = s.flush();
  return {r + o.reasoning, c + o.content};
}

TEST(TextStream, ThinkSplitForAnySplit) {
  using P = std::pair<std::string, std::string>;
  for (size_t k = 1; k <= 20; ++k) {
    // Template opened <think>: output starts in reasoning.
    EXPECT_EQ(run_think(true, "step 1 < 2\n</think>\n\nAnswer: 3", k), P("step 1 < 2\n", "Answer: 3")) << k;
    // The model opens the block itself.
    EXPECT_EQ(run_think(false, "\n<think>hmm</think>ok", k), P("hmm", "ok")) << k;
    // No think block at all: all content, including a later literal "<think>".
    EXPECT_EQ(run_think(false, "plain <think> text", k), P("", "plain <think> text")) << k;
    // Unfinished reasoning (length cut): all of it is reasoning, a partial tag included.
    EXPECT_EQ(run_think(true, "still thinking </thi", k), P("still thinking </thi", "")) << k;
    // A second </think> after the answer started is content.
    EXPECT_EQ(run_think(true, "a</think>b</think>", k), P("a", "b</think>")) << k;
  }
}

TEST(TextStream, InThinkTracksState) {
  ThinkSplitter s(true);
  EXPECT_TRUE(s.in_think());
  s.push("x</think>");
  EXPECT_FALSE(s.in_think());
  ThinkSplitter t(false);
  EXPECT_FALSE(t.in_think());
  t.push("<think>");
  EXPECT_TRUE(t.in_think());
}

}  // namespace
}  // namespace r1::server
