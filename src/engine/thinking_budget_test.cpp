// Thinking budget: counting, forcing the whole closing sequence once, and the open-block probe.
#include "engine/thinking_budget.h"

#include <gtest/gtest.h>

namespace r1::engine {
namespace {

TEST(ThinkingBudget, ForcesTheClosingTokensAfterTheBudget) {
  ThinkingBudget b(3, {90, 91, 92});
  // Three sampled thinking tokens, then the three closing ids in order, then free sampling.
  std::vector<int32_t> got;
  for (int i = 0; i < 8; ++i) got.push_back(b.next(/*open=*/i < 6));
  EXPECT_EQ(got, (std::vector<int32_t>{-1, -1, -1, 90, 91, 92, -1, -1}));
  EXPECT_EQ(b.used(), 3);
  EXPECT_TRUE(b.forced());
  // Never twice: a model that opens a second block is left alone.
  EXPECT_EQ(b.next(true), -1);
}

TEST(ThinkingBudget, TokensOutsideTheBlockDoNotCount) {
  ThinkingBudget b(2, {7});
  EXPECT_EQ(b.next(false), -1);  // before the model wrote <think>
  EXPECT_EQ(b.next(false), -1);
  EXPECT_EQ(b.next(true), -1);
  EXPECT_EQ(b.next(true), -1);
  EXPECT_EQ(b.next(true), 7);
  EXPECT_EQ(b.used(), 2);
}

TEST(ThinkingBudget, ZeroClosesAtOnceAndNegativeIsUnlimited) {
  ThinkingBudget zero(0, {5, 6});
  EXPECT_EQ(zero.next(true), 5);
  EXPECT_EQ(zero.next(false), 6);  // the closing sequence completes even though it now reads closed
  ThinkingBudget off(-1, {5});
  for (int i = 0; i < 100; ++i) ASSERT_EQ(off.next(true), -1);
  // A model that closes the block itself before the budget is never forced.
  ThinkingBudget early(4, {5});
  EXPECT_EQ(early.next(true), -1);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(early.next(false), -1);
  EXPECT_FALSE(early.forced());
}

TEST(ThinkingBudget, ReasoningOpenFollowsTheParser) {
  tok::ReasoningParser in_prompt(/*starts_in_reasoning=*/true);
  EXPECT_TRUE(reasoning_open(in_prompt));
  in_prompt.push("some thought</thi");  // a tag cut mid-way is still reasoning
  EXPECT_TRUE(reasoning_open(in_prompt));
  in_prompt.push("nk>\n\nanswer");
  EXPECT_FALSE(reasoning_open(in_prompt));
  tok::ReasoningParser plain(false);
  EXPECT_FALSE(reasoning_open(plain));
  plain.push("<think>\nhmm");
  EXPECT_TRUE(reasoning_open(plain));
}

}  // namespace
}  // namespace r1::engine
