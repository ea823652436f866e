// Tests of the embedded task: determinism, correct answers (recomputed independently), held-out
// disjointness, the corpus style mix and that self-checking pays off.
#include "task/task.h"

#include <gtest/gtest.h>

#include <regex>
#include <set>

namespace r1::task {
namespace {

std::vector<Problem> gen(const std::string& f, int64_t n, uint64_t seed, Split s, int level = 0) {
  auto r = generate(f, n, seed, s, level);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.message());
  return r.ok() ? r.value() : std::vector<Problem>{};
}

TEST(Task, Deterministic) {
  for (const auto& f : task_names()) {
    auto a = gen(f, 50, 7, Split::Train), b = gen(f, 50, 7, Split::Train), c = gen(f, 50, 8, Split::Train);
    ASSERT_EQ(a.size(), 50u);
    bool differs = false;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].prompt, b[i].prompt);
      EXPECT_EQ(a[i].answer, b[i].answer);
      differs |= a[i].prompt != c[i].prompt;
    }
    EXPECT_TRUE(differs) << f;
    CorpusOptions o;
    auto c1 = generate_corpus(f, 100, 3, o), c2 = generate_corpus(f, 100, 3, o);
    ASSERT_TRUE(c1.ok() && c2.ok());
    EXPECT_EQ(c1->documents, c2->documents);
  }
}

TEST(Task, ArithAnswersCorrect) {
  // Recompute from the prompt text with an independent parse.
  const std::regex re(R"(^Q:(\d+)([-+*])(\d+)=\?A:$)");
  for (int level = 0; level <= 4; ++level) {
    for (const auto& p : gen("arith", 300, 11, Split::Train, level)) {
      std::smatch m;
      ASSERT_TRUE(std::regex_match(p.prompt, m, re)) << p.prompt;
      const long long a = std::stoll(m[1]), b = std::stoll(m[3]);
      const long long want = m[2] == "+" ? a + b : m[2] == "-" ? a - b : a * b;
      EXPECT_EQ(p.answer, std::to_string(want)) << p.prompt;
      EXPECT_TRUE(check_answer(p, p.answer));
      EXPECT_FALSE(check_answer(p, std::to_string(want + 1)));
      // The clean trace ends with the answer.
      const std::string t = correct_trace(p);
      EXPECT_EQ(t.substr(t.find("</think>") + 8), p.answer) << t;
    }
  }
  Problem p = arith_problem(347, '+', 589);
  EXPECT_EQ(p.prompt, "Q:347+589=?A:");
  EXPECT_EQ(correct_trace(p), "<think>7+9=16 4+8+1=13 3+5+1=9</think>936");  // R1ZERO-TOY.md's example
  EXPECT_EQ(correct_trace(arith_problem(347, '-', 189)), "<think>17-9=8 13-8=5 2-1=1</think>158");
  EXPECT_EQ(correct_trace(arith_problem(189, '-', 347)), "<think>swap 17-9=8 13-8=5 2-1=1</think>-158");
  EXPECT_EQ(correct_trace(arith_problem(347, '*', 6)), "<think>7*6=42 4*6+4=28 3*6+2=20</think>2082");
}

TEST(Task, LinearAnswersCorrect) {
  const std::regex re(R"(^Q:(-?\d+)x([-+]\d+)=(-?\d+),x=\?A:$)");
  for (int level = 0; level <= 4; ++level) {
    for (const auto& p : gen("linear", 200, 5, Split::Train, level)) {
      std::smatch m;
      ASSERT_TRUE(std::regex_match(p.prompt, m, re)) << p.prompt;
      const long long a = std::stoll(m[1]), b = std::stoll(m[2]), c = std::stoll(m[3]);
      const long long x = std::stoll(p.answer);
      EXPECT_EQ(a * x + b, c) << p.prompt;
      EXPECT_TRUE(check_answer(p, p.answer));
      EXPECT_TRUE(check_answer(p, " " + p.answer));
      EXPECT_FALSE(check_answer(p, std::to_string(x + 1)));
      const std::string t = correct_trace(p);
      EXPECT_EQ(t.substr(t.find("</think>") + 8), p.answer) << t;
    }
  }
}

TEST(Task, CountdownAnswersCheck) {
  for (int level = 0; level <= 3; ++level) {
    for (const auto& p : gen("countdown", 200, 9, Split::Train, level)) {
      EXPECT_TRUE(check_answer(p, p.answer)) << p.prompt << " " << p.answer;
      EXPECT_GE(p.target, 10);
      const std::string t = correct_trace(p);
      EXPECT_TRUE(check_answer(p, t.substr(t.find("</think>") + 8))) << t;
    }
  }
  Problem p;
  p.family = "countdown";
  p.numbers = {1, 3, 5, 8};
  p.target = 24;
  EXPECT_TRUE(check_answer(p, "(8-3)*5-1"));
  EXPECT_TRUE(check_answer(p, "3*8"));          // not all numbers needed
  EXPECT_TRUE(check_answer(p, "8*3*1"));
  EXPECT_FALSE(check_answer(p, "8*3*1*1"));     // 1 used twice
  EXPECT_FALSE(check_answer(p, "4*6"));         // numbers not in the pool
  EXPECT_FALSE(check_answer(p, "(8-3)*5"));     // 25
  EXPECT_FALSE(check_answer(p, "8*3+"));        // malformed
  EXPECT_FALSE(check_answer(p, "5/3*8+1"));     // inexact division
  EXPECT_FALSE(check_answer(p, ""));
}

TEST(Task, HeldOutDisjoint) {
  for (const auto& f : task_names()) {
    auto test = gen(f, 100, 1, Split::Test);
    std::set<std::string> test_prompts;
    for (const auto& p : test) {
      EXPECT_TRUE(is_test_prompt(p.prompt));
      test_prompts.insert(p.prompt);
    }
    EXPECT_EQ(test_prompts.size(), test.size()) << f << ": test problems repeat";
    for (const auto& p : gen(f, 2000, 2, Split::Train)) EXPECT_FALSE(test_prompts.count(p.prompt)) << p.prompt;
    auto corpus = generate_corpus(f, 3000, 3, CorpusOptions{});
    ASSERT_TRUE(corpus.ok());
    for (const auto& d : corpus->documents) {
      const std::string prompt = d.substr(0, d.find("A:") + 2);
      EXPECT_FALSE(is_test_prompt(prompt)) << d;
    }
  }
}

TEST(Task, CorpusStyleMix) {
  CorpusOptions o;
  auto c = generate_corpus("arith", 8000, 4, o);
  ASSERT_TRUE(c.ok());
  int think = 0, wait = 0, check = 0, bare_right = 0, bare = 0;
  int think_right = 0, check_right = 0, nocheck_think = 0, nocheck_right = 0;
  for (size_t i = 0; i < c->documents.size(); ++i) {
    const auto& s = c->solutions[i];
    const auto& d = c->documents[i];
    EXPECT_EQ(d.find('\n'), std::string::npos);
    EXPECT_EQ(s.think, d.find("<think>") != std::string::npos);
    EXPECT_EQ(s.wait, d.find("wait") != std::string::npos) << d;
    if (s.think) {
      ++think;
      think_right += s.correct;
      if (s.check) {
        ++check;
        check_right += s.correct;
      } else {
        ++nocheck_think;
        nocheck_right += s.correct;
      }
    } else {
      ++bare;
      bare_right += s.correct;
    }
    wait += s.wait;
  }
  const double n = static_cast<double>(c->documents.size());
  EXPECT_NEAR(think / n, o.think_share, 0.02);
  EXPECT_NEAR(static_cast<double>(check) / think, o.check_share, 0.03);
  EXPECT_GT(wait, 0);
  // Bare answers are mostly wrong on this (mostly hard) mix; think traces mostly right.
  EXPECT_LT(static_cast<double>(bare_right) / bare, 0.6);
  EXPECT_GT(static_cast<double>(think_right) / think, 0.7);
  // Checking pays off: traces with a check passage end right more often than those without.
  EXPECT_GT(static_cast<double>(check_right) / check, static_cast<double>(nocheck_right) / nocheck_think + 0.03);
}

TEST(Task, Errors) {
  EXPECT_FALSE(generate("nope", 1, 0, Split::Train).ok());
  EXPECT_FALSE(generate("arith", 1, 0, Split::Train, 9).ok());
}

}  // namespace
}  // namespace r1::task
