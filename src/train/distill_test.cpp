// Rejection-sampling filter: only correct AND well-formed AND untruncated completions survive,
// exact duplicates per prompt are dropped (first wins), counts add up; trace JSONL round-trips.
#include <gtest/gtest.h>

#include <sstream>

#include <nlohmann/json.hpp>

#include "train/distill.h"

namespace r1::train {
namespace {

Candidate cand(int64_t i, std::string text, bool correct, bool formed, bool truncated = false) {
  Candidate c;
  c.prompt_index = i;
  c.completion = std::move(text);
  c.correct = correct;
  c.well_formed = formed;
  c.truncated = truncated;
  return c;
}

TEST(Distill, FilterKeepsCorrectWellFormedDistinct) {
  const std::vector<DistillPrompt> prompts = {{"Q:1+1=?A:", "2"}, {"Q:2+2=?A:", "4"}};
  const std::vector<Candidate> cs = {
      cand(0, "<think>1+1=2</think>2", true, true),
      cand(0, "<think>1+1=2</think>2", true, true),     // duplicate
      cand(0, "2", true, false),                        // correct, no think block
      cand(0, "<think>1+1=3</think>3", false, true),    // wrong
      cand(0, "<think>1+1=2 check</think>2", true, true),
      cand(1, "<think>1+1=2</think>2", true, true),     // same text, other prompt: not a dup
      cand(1, "<think>2+2=4", true, true, true),        // truncated
  };
  FilterStats st;
  const auto t = filter_traces(prompts, cs, 0, &st);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].prompt, "Q:1+1=?A:");
  EXPECT_EQ(t[0].completion, "<think>1+1=2</think>2");
  EXPECT_EQ(t[0].answer, "2");
  EXPECT_EQ(t[1].completion, "<think>1+1=2 check</think>2");
  EXPECT_EQ(t[2].prompt, "Q:2+2=?A:");
  EXPECT_EQ(t[2].answer, "4");
  EXPECT_EQ(st.samples, 7);
  EXPECT_EQ(st.truncated, 1);
  EXPECT_EQ(st.correct, 6);
  EXPECT_EQ(st.well_formed, 6);
  EXPECT_EQ(st.accepted_before_dedup, 4);
  EXPECT_EQ(st.duplicates, 1);
  EXPECT_EQ(st.kept, 3);
  EXPECT_EQ(st.prompts_with_trace, 2);
  EXPECT_DOUBLE_EQ(st.acceptance_rate(), 4.0 / 7.0);

  // Per-prompt cap.
  const auto capped = filter_traces(prompts, cs, 1, &st);
  ASSERT_EQ(capped.size(), 2u);
  EXPECT_EQ(capped[0].completion, "<think>1+1=2</think>2");
  EXPECT_EQ(capped[1].prompt, "Q:2+2=?A:");
}

TEST(Distill, EmptyAndAllRejected) {
  FilterStats st;
  EXPECT_TRUE(filter_traces({}, {}, 0, &st).empty());
  EXPECT_EQ(st.acceptance_rate(), 0.0);
  const std::vector<DistillPrompt> p = {{"x", "1"}};
  EXPECT_TRUE(filter_traces(p, {cand(0, "a", false, false), cand(5, "b", true, true)}, 0, &st).empty());
  EXPECT_EQ(st.samples, 2);
  EXPECT_EQ(st.kept, 0);
}

TEST(Distill, TracesJsonlRoundTrips) {
  const std::vector<Trace> t = {{"Q:1+1=?A:", "<think>\"q\"\n</think>2", "2"}, {"p", "c", "a"}};
  std::istringstream in(traces_jsonl(t));
  std::string line;
  size_t i = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    ASSERT_LT(i, t.size());
    EXPECT_EQ(j["prompt"], t[i].prompt);
    EXPECT_EQ(j["completion"], t[i].completion);
    EXPECT_EQ(j["answer"], t[i].answer);
    ++i;
  }
  EXPECT_EQ(i, 2u);
}

}  // namespace
}  // namespace r1::train
