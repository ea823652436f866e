// Tests of the accuracy, format and language-consistency rewards and the RewardSet registry.
#include "rewards/rewards.h"

#include <gtest/gtest.h>

#include "task/task.h"

namespace r1::rewards {
namespace {

TEST(Rewards, AccuracyTaskAnswerAfterThink) {
  const char* p = "Q:347+589=?A:";
  EXPECT_EQ(accuracy_reward(p, "<think>7+9=16 4+8+1=13 3+5+1=9</think>936", "936"), 1.0f);
  EXPECT_EQ(accuracy_reward(p, "<think>7+9=16 4+8+1=14 3+5+1=9</think>946", "936"), 0.0f);
  EXPECT_EQ(accuracy_reward(p, "936", "936"), 1.0f);  // bare answer
  EXPECT_EQ(accuracy_reward(p, "937", "936"), 0.0f);
  // The number inside the reasoning does not count; an unfinished think block has no answer.
  EXPECT_EQ(accuracy_reward(p, "<think>936</think>", "936"), 0.0f);
  EXPECT_EQ(accuracy_reward(p, "<think>7+9=16 936", "936"), 0.0f);
  EXPECT_EQ(accuracy_reward(p, "", "936"), 0.0f);
}

// One rule for eval, GRPO and distillation: a task problem is checked by the task's own rule
// (countdown: any valid expression reaching the target), anything else by math_equal.
TEST(Rewards, AnswerCorrectUsesTheTaskRuleWhenGiven) {
  task::Problem cd;
  cd.family = "countdown";
  cd.prompt = "Q:24 from 2 3 4=?A:";
  cd.answer = "2*3*4";
  cd.numbers = {2, 3, 4};
  cd.target = 24;
  std::string a;
  EXPECT_TRUE(answer_correct(cd.prompt, "<think>try</think>4*3*2", cd.answer, &cd, &a));
  EXPECT_EQ(a, "4*3*2");
  EXPECT_TRUE(answer_correct(cd.prompt, "<think>try</think>(2*3)*4", cd.answer, &cd));
  EXPECT_FALSE(answer_correct(cd.prompt, "<think>try</think>4*4+2*3+2", cd.answer, &cd));  // 4 used twice
  EXPECT_FALSE(answer_correct(cd.prompt, "<think>try</think>24", cd.answer, &cd));         // not from the pool
  EXPECT_FALSE(answer_correct(cd.prompt, "<think>4*3*2", cd.answer, &cd, &a));              // never closed
  EXPECT_EQ(a, "");
  // Without the problem, the completion is compared with the gold as math (24 = 24).
  EXPECT_FALSE(answer_correct(cd.prompt, "<think>try</think>4*6", cd.answer, &cd));
  EXPECT_TRUE(answer_correct(cd.prompt, "<think>try</think>4*6", cd.answer));
  EXPECT_TRUE(answer_correct("q", "<think>x</think>\\boxed{0.5}", "\\frac{1}{2}", nullptr, &a));
  EXPECT_EQ(a, "0.5");
  EXPECT_EQ(accuracy_reward("q", "<think>x</think>\\boxed{0.5}", "\\frac{1}{2}"), 1.0f);
}

TEST(Rewards, AccuracyBoxedAndAnswerTag) {
  EXPECT_EQ(accuracy_reward("q", "<think>so 1/2</think>The answer is \\boxed{\\frac{1}{2}}.", "0.5"), 1.0f);
  EXPECT_EQ(accuracy_reward("q", "<think>x</think><answer>(1, 2)</answer>", "(1,2)"), 1.0f);
  EXPECT_EQ(accuracy_reward("q", "<think>\\boxed{3}</think>\\boxed{4}", "3"), 0.0f);
  EXPECT_EQ(accuracy_reward("q", "Thus she earns 18 dollars in total each day", "18"), 1.0f);
  // R1 chat prompts open the think block; the completion closes it.
  EXPECT_EQ(accuracy_reward("<|Assistant|><think>\n", "reason...</think>\\boxed{7}", "7"), 1.0f);
  EXPECT_EQ(accuracy_reward("<|Assistant|><think>\n", "reason... 7", "7"), 0.0f);
}

TEST(Rewards, Format) {
  EXPECT_EQ(format_reward("q", "<think>a</think>b", ""), 1.0f);
  EXPECT_EQ(format_reward("q", "\n<think>\nstep\n</think>\n\n42", ""), 1.0f);
  EXPECT_EQ(format_reward("q", "42", ""), 0.0f);                               // no think
  EXPECT_EQ(format_reward("q", "<think>a</think>", ""), 0.0f);                 // no answer
  EXPECT_EQ(format_reward("q", "<think>a</think>  \n", ""), 0.0f);             // blank answer
  EXPECT_EQ(format_reward("q", "<think> </think>42", ""), 0.0f);               // blank reasoning
  EXPECT_EQ(format_reward("q", "<think>a</think>b<think>c</think>d", ""), 0.0f);  // two blocks
  EXPECT_EQ(format_reward("q", "</think>a<think>b", ""), 0.0f);                // reversed tags
  EXPECT_EQ(format_reward("q", "x<think>a</think>b", ""), 0.0f);               // text before
  EXPECT_EQ(format_reward("q", "<think>a<think>b</think>c", ""), 0.0f);        // nested open
  EXPECT_EQ(format_reward("A:<think>\n", "reasoning</think>42", ""), 1.0f);    // opened by prompt
  EXPECT_EQ(format_reward("A:<think>\n", "reasoning 42", ""), 0.0f);
}

TEST(Rewards, LanguageConsistency) {
  EXPECT_FLOAT_EQ(language_consistency_reward("Solve x+1=2", "<think>subtract one</think>1", ""), 1.0f);
  // Chinese prompt, English reasoning -> 0; Chinese reasoning -> 1.
  EXPECT_FLOAT_EQ(language_consistency_reward("求解方程", "<think>subtract</think>1", ""), 0.0f);
  EXPECT_FLOAT_EQ(language_consistency_reward("求解方程", "<think>两边减一</think>1", ""), 1.0f);
  // Mixed: 2 Han letters and 2 Latin letters in the reasoning -> 0.5 for either prompt script.
  EXPECT_FLOAT_EQ(language_consistency_reward("求解", "<think>减一 ab 1+1=2</think>", ""), 0.5f);
  EXPECT_FLOAT_EQ(language_consistency_reward("solve", "<think>减一 ab</think>", ""), 0.5f);
  // Digits and symbols are not letters; no letters at all is consistent.
  EXPECT_FLOAT_EQ(language_consistency_reward("solve", "<think>7+9=16</think>16", ""), 1.0f);
  // Without a think block the whole completion is the reasoning.
  EXPECT_FLOAT_EQ(language_consistency_reward("solve", "Привет", ""), 0.0f);
  EXPECT_EQ(main_script("Привет мир"), "cyrillic");
  EXPECT_EQ(main_script("こんにちは"), "han");
  EXPECT_EQ(main_script("123"), "");
}

TEST(Rewards, RewardSet) {
  auto rs = RewardSet::with_defaults();
  EXPECT_EQ(rs.names(), (std::vector<std::string>{"accuracy", "format", "language"}));
  ASSERT_NE(rs.find("accuracy"), nullptr);
  EXPECT_EQ((*rs.find("accuracy"))("q", "<think>a</think>5", "5"), 1.0f);
  EXPECT_EQ(rs.find("nope"), nullptr);
  rs.add("length", [](std::string_view, std::string_view c, std::string_view) { return static_cast<float>(c.size()); });
  EXPECT_EQ((*rs.find("length"))("q", "abc", ""), 3.0f);
}

}  // namespace
}  // namespace r1::rewards
