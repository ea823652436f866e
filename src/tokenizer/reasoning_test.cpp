// ReasoningParser: the rules of reasoning.h case by case, and streaming == one-shot for every way
// of cutting each input into chunks at one or two byte positions, and byte by byte.
#include <gtest/gtest.h>

#include "tokenizer/reasoning.h"

namespace r1::tok {
namespace {

struct Case {
  const char* name;
  bool starts_in_reasoning;
  bool strip;
  std::string text, reasoning, content;
  bool unclosed;
};

// Expected splits follow the rules documented in reasoning.h (strip=false rows: vLLM's
// deepseek_r1 parser keeps the text between and after the tags verbatim).
const std::vector<Case>& cases() {
  static const std::vector<Case> k = {
      {"opened_by_model", false, true, "<think>\nLet me think.\n</think>\n\nThe answer is 4.", "Let me think.",
       "The answer is 4.", false},
      {"opened_by_template", true, true, "Let me think.\n</think>\n\nAnswer", "Let me think.", "Answer", false},
      {"no_reasoning", false, true, "Just an answer.", "", "Just an answer.", false},
      {"unclosed_from_template", true, true, "reasoning that never ends\n", "reasoning that never ends\n", "", true},
      {"unclosed_from_model", false, true, "<think>\nunclosed", "unclosed", "", true},
      {"reopened_by_model", true, true, "<think>\nduplicated open\n</think>\nok", "duplicated open", "ok", false},
      {"leading_space", false, true, "  <think>x</think>y", "x", "y", false},
      {"late_open_is_content", false, true, "answer mentions <think> later", "", "answer mentions <think> later", false},
      {"empty_block", false, true, "<think></think>", "", "", false},
      {"qwen3_no_think", false, true, "<think>\n\n</think>\n\nHi", "", "Hi", false},
      {"second_close_is_content", true, true, "a</think>b</think>c<think>d", "a", "b</think>c<think>d", false},
      {"partial_open_at_end", false, true, "<thin", "", "<thin", false},
      {"partial_close_at_end", true, true, "abc</thi", "abc</thi", "", true},
      {"utf8", true, true, "\xC3\x9Cn\xC3\xAF \xE2\x9C\x93 \xE6\x95\xB0</think>\xF0\x9F\x9A\x80",
       "\xC3\x9Cn\xC3\xAF \xE2\x9C\x93 \xE6\x95\xB0", "\xF0\x9F\x9A\x80", false},
      {"empty_output", false, true, "", "", "", false},
      {"empty_output_in_block", true, true, "", "", "", true},
      {"inner_newlines_kept", true, true, "line1\n\nline2\n\n</think>\n\n\nx\n", "line1\n\nline2", "x\n", false},
      {"only_whitespace", false, true, "\n\n", "", "\n\n", false},
      {"not_a_tag", false, true, "<<think>>", "", "<<think>>", false},
      {"lookalike_close", true, true, "a</thinking>b</think>c", "a</thinking>b", "c", false},
      {"verbatim_vllm", false, false, "<think>\nR\n</think>\n\nC", "\nR\n", "\n\nC", false},
      {"verbatim_from_template", true, false, "R\n</think>\n\nC", "R\n", "\n\nC", false},
  };
  return k;
}

ReasoningParser::Delta run_chunks(const Case& c, const std::vector<size_t>& cuts, bool* unclosed) {
  ReasoningParser p(c.starts_in_reasoning, c.strip);
  ReasoningParser::Delta all;
  size_t prev = 0;
  auto add = [&](const ReasoningParser::Delta& d) {
    all.reasoning += d.reasoning;
    all.content += d.content;
  };
  for (size_t cut : cuts) {
    add(p.push(std::string_view(c.text).substr(prev, cut - prev)));
    prev = cut;
  }
  add(p.push(std::string_view(c.text).substr(prev)));
  add(p.finish());
  *unclosed = p.reasoning_unclosed();
  return all;
}

TEST(ReasoningParser, OneShotCases) {
  for (const Case& c : cases()) {
    const auto d = ReasoningParser::parse(c.text, c.starts_in_reasoning, c.strip);
    EXPECT_EQ(d.reasoning, c.reasoning) << c.name;
    EXPECT_EQ(d.content, c.content) << c.name;
    bool unclosed = false;
    run_chunks(c, {}, &unclosed);
    EXPECT_EQ(unclosed, c.unclosed) << c.name;
  }
}

TEST(ReasoningParser, EverySplitPointMatchesOneShot) {
  for (const Case& c : cases()) {
    const size_t n = c.text.size();
    for (size_t i = 0; i <= n; ++i) {
      bool unclosed = false;
      const auto d = run_chunks(c, {i}, &unclosed);
      EXPECT_EQ(d.reasoning, c.reasoning) << c.name << " split at " << i;
      EXPECT_EQ(d.content, c.content) << c.name << " split at " << i;
      EXPECT_EQ(unclosed, c.unclosed) << c.name << " split at " << i;
    }
    for (size_t i = 0; i <= n; ++i) {
      for (size_t j = i; j <= n; ++j) {
        bool unclosed = false;
        const auto d = run_chunks(c, {i, j}, &unclosed);
        ASSERT_EQ(d.reasoning, c.reasoning) << c.name << " split at " << i << "," << j;
        ASSERT_EQ(d.content, c.content) << c.name << " split at " << i << "," << j;
      }
    }
    std::vector<size_t> every;
    for (size_t i = 1; i < n; ++i) every.push_back(i);
    bool unclosed = false;
    const auto d = run_chunks(c, every, &unclosed);
    EXPECT_EQ(d.reasoning, c.reasoning) << c.name << " byte by byte";
    EXPECT_EQ(d.content, c.content) << c.name << " byte by byte";
  }
}

// Nothing is emitted early that a later byte could change: a held-back tag prefix stays hidden.
TEST(ReasoningParser, HoldsBackTagPrefixes) {
  ReasoningParser p(true);
  auto d = p.push("abc</th");
  EXPECT_EQ(d.reasoning, "abc");
  EXPECT_EQ(d.content, "");
  d = p.push("ink>\n\nDone");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Done");
  EXPECT_FALSE(p.finish().content.size());
  EXPECT_FALSE(p.reasoning_unclosed());
  EXPECT_TRUE(p.saw_reasoning());

  ReasoningParser q(false);
  EXPECT_EQ(q.push("<thi").content, "");
  const auto e = q.push("nk>\nx");
  EXPECT_EQ(e.reasoning, "x");
  EXPECT_TRUE(q.saw_reasoning());
}

TEST(ReasoningParser, PromptEndsInReasoning) {
  EXPECT_TRUE(prompt_ends_in_reasoning("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C><think>\n"));
  EXPECT_TRUE(prompt_ends_in_reasoning("...<think>"));
  EXPECT_FALSE(prompt_ends_in_reasoning("<\xEF\xBD\x9C" "Assistant\xEF\xBD\x9C>"));
  EXPECT_FALSE(prompt_ends_in_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(prompt_ends_in_reasoning("what is <think>?<|im_end|>\n<|im_start|>assistant\n"));
  EXPECT_FALSE(prompt_ends_in_reasoning(""));
}

}  // namespace
}  // namespace r1::tok
