// Tests of the evaluation metrics (pass@k against exact binomials, cons@k voting with ties),
// the summary over sample records and the dataset readers on the shared benchmark files.
#include <gtest/gtest.h>

#include <fstream>

#include "core/test_util.h"
#include "eval/dataset.h"
#include "eval/metrics.h"
#include "eval/runner.h"
#include "rewards/math_verify.h"

namespace r1::eval {
namespace {

// C(n, r) exactly in long double by the multiplicative formula (independent of the product form).
long double binom(int n, int r) {
  if (r < 0 || r > n) return 0;
  long double v = 1;
  for (int i = 1; i <= r; ++i) v = v * (n - r + i) / i;
  return v;
}

TEST(Metrics, PassAtKMatchesBinomialFormula) {
  for (int n = 1; n <= 20; ++n)
    for (int c = 0; c <= n; ++c)
      for (int k = 1; k <= n; ++k) {
        const double want = static_cast<double>(1.0L - binom(n - c, k) / binom(n, k));
        EXPECT_NEAR(pass_at_k(n, c, k), want, 1e-12) << n << " " << c << " " << k;
      }
}

TEST(Metrics, PassAtKHandValues) {
  EXPECT_DOUBLE_EQ(pass_at_k(2, 1, 1), 0.5);
  EXPECT_DOUBLE_EQ(pass_at_k(2, 1, 2), 1.0);
  EXPECT_NEAR(pass_at_k(4, 1, 2), 0.5, 1e-15);        // 1 - C(3,2)/C(4,2) = 1 - 3/6
  EXPECT_NEAR(pass_at_k(10, 3, 5), 1.0 - 21.0 / 252.0, 1e-15);  // C(7,5)=21, C(10,5)=252
  EXPECT_DOUBLE_EQ(pass_at_k(16, 0, 16), 0.0);
  EXPECT_DOUBLE_EQ(pass_at_k(16, 16, 1), 1.0);
  // Large n stays finite where binomials overflow a double.
  EXPECT_NEAR(pass_at_k(2000, 1, 1), 1.0 / 2000, 1e-15);
}

TEST(Metrics, MajorityVote) {
  auto eq = [](std::string_view a, std::string_view b) { return rewards::math_equal(a, b); };
  EXPECT_EQ(majority_vote({"1", "2", "2"}, eq), 1);
  EXPECT_EQ(majority_vote({"0.5", "\\frac{1}{2}", "3", "3"}, eq), 0);  // tie 2-2: first class wins
  EXPECT_EQ(majority_vote({"3", "3", "0.5", "\\frac12"}, eq), 0);
  EXPECT_EQ(majority_vote({"", "", "7"}, eq), 2);                     // empty answers do not vote
  EXPECT_EQ(majority_vote({"", ""}, eq), -1);
  EXPECT_EQ(majority_vote({"a", "b", "c"}, eq), 0);                     // all ties: first
  EXPECT_EQ(majority_vote({"1,000", "5", "1000"}, eq), 0);
}

TEST(Metrics, Summarize) {
  std::vector<EvalItem> items(2);
  items[0].answer = "1";
  items[1].answer = "2";
  auto rec = [](int p, int s, const std::string& a, bool ok, int64_t toks, bool think, bool wait) {
    SampleRecord r;
    r.problem = p;
    r.sample = s;
    r.answer = a;
    r.correct = ok;
    r.completion_tokens = toks;
    r.think = think;
    r.wait = wait;
    r.finish_reason = "stop";
    return r;
  };
  // Problem 0: 1 of 3 right, majority wrong. Problem 1: 2 of 3 right, majority right.
  std::vector<SampleRecord> rs = {rec(0, 0, "1", true, 10, true, false), rec(0, 1, "5", false, 20, false, false),
                                  rec(0, 2, "5", false, 30, true, true), rec(1, 0, "2", true, 4, true, false),
                                  rec(1, 1, "2.0", true, 6, false, false), rec(1, 2, "", false, 2, false, false)};
  const EvalSummary s = summarize(items, rs, 3);
  EXPECT_EQ(s.n_problems, 2);
  EXPECT_EQ(s.k, 3);
  EXPECT_NEAR(s.pass_at_1, (1.0 / 3 + 2.0 / 3) / 2, 1e-12);
  EXPECT_NEAR(s.cons_at_k, 0.5, 1e-12);
  EXPECT_NEAR(s.pass_at_k, 1.0, 1e-12);  // each problem has a correct sample among its 3
  EXPECT_NEAR(s.mean_completion_tokens, 72.0 / 6, 1e-12);
  EXPECT_NEAR(s.think_share, 3.0 / 6, 1e-12);
  EXPECT_NEAR(s.wait_share, 1.0 / 6, 1e-12);
  const auto j = s.to_json();
  for (const char* key : {"n_problems", "k", "pass@1", "cons@k", "pass@k", "mean_completion_tokens"})
    EXPECT_TRUE(j.contains(key)) << key;
}

TEST(Metrics, JudgeTaskAndMath) {
  auto task_items = task_dataset("arith", 3, 1);
  ASSERT_TRUE(task_items.ok());
  const EvalItem& t = (*task_items)[0];
  std::string a;
  EXPECT_TRUE(judge(t, t.problem, std::string("<think>..</think>").append(t.answer), a));
  EXPECT_EQ(a, t.answer);
  EXPECT_FALSE(judge(t, t.problem, std::string("<think>").append(t.answer).append("</think>"), a));
  EvalItem m;
  m.answer = "\\frac{1}{2}";
  EXPECT_TRUE(judge(m, "q", "so \\boxed{0.5}", a));
  EXPECT_FALSE(judge(m, "<think>\n", "so \\boxed{0.5}", a));  // reasoning never closed
}

TEST(Dataset, Gsm8kFinalAnswer) {
  EXPECT_EQ(gsm8k_final_answer("a\nb = <<2*9=18>>18\n#### 18"), "18");
  EXPECT_EQ(gsm8k_final_answer("x\n#### 1,234"), "1234");
  EXPECT_EQ(gsm8k_final_answer(" 7 "), "7");
}

TEST(Dataset, SharedFiles) {
  R1_SKIP_UNLESS_SHARED("");
  auto math = read_jsonl_dataset(r1::test::shared_path("data/math500/test.jsonl"));
  ASSERT_TRUE(math.ok()) << math.message();
  EXPECT_EQ(math->size(), 500u);
  EXPECT_EQ((*math)[0].answer, "\\left( 3, \\frac{\\pi}{2} \\right)");
  EXPECT_NE((*math)[0].problem.find("polar coordinates"), std::string::npos);
  auto gsm = read_jsonl_dataset(r1::test::shared_path("data/gsm8k/test.jsonl"));
  ASSERT_TRUE(gsm.ok()) << gsm.message();
  EXPECT_EQ(gsm->size(), 1319u);
  EXPECT_EQ((*gsm)[0].answer, "18");
  EXPECT_NE((*gsm)[0].problem.find("Janet"), std::string::npos);
  for (const auto& it : *gsm) EXPECT_TRUE(rewards::numeric_value(it.answer).has_value()) << it.answer;
  auto a24 = read_jsonl_dataset(r1::test::shared_path("data/aime2024/test.jsonl"));
  ASSERT_TRUE(a24.ok()) << a24.message();
  EXPECT_EQ(a24->size(), 30u);
  EXPECT_EQ((*a24)[0].answer, "204");
  auto a25 = read_jsonl_dataset(r1::test::shared_path("data/aime2025/aime25.jsonl"));
  ASSERT_TRUE(a25.ok()) << a25.message();
  EXPECT_EQ(a25->size(), 30u);
  EXPECT_EQ((*a25)[0].answer, "70");  // a JSON number
  EXPECT_NE((*a25)[0].problem.find("\\boxed{}"), std::string::npos);
  // Explicit field names.
  auto q = read_jsonl_dataset(r1::test::shared_path("data/aime2024/test.jsonl"), {"question", "answer"});
  ASSERT_TRUE(q.ok()) << q.message();
  auto bad = read_jsonl_dataset(r1::test::shared_path("data/gsm8k/test.jsonl"), {"nope", ""});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find(":1: no problem field (tried nope"), std::string::npos) << bad.message();
}

TEST(Dataset, MalformedLines) {
  r1::test::TempDir tmp;
  const std::string f = tmp.file("d.jsonl");
  std::ofstream(f) << "{\"problem\": \"1+1\", \"answer\": 2}\n\n{bad json\n";
  auto r = read_jsonl_dataset(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("d.jsonl:3: not valid JSON"), std::string::npos) << r.message();
  std::ofstream(f) << "{\"problem\": \"1+1\", \"answer\": [2]}\n";
  r = read_jsonl_dataset(f);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.message().find("field 'answer' is not a string or number"), std::string::npos) << r.message();
  // Answers past INT64_MAX keep their digits (get<int64_t> turned them negative).
  std::ofstream(f) << "{\"problem\": \"p\", \"answer\": 18446744073709551615}\n{\"problem\": \"q\", \"answer\": -3}\n";
  r = read_jsonl_dataset(f);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ((*r)[0].answer, "18446744073709551615");
  EXPECT_EQ((*r)[1].answer, "-3");
  std::ofstream(f) << "";
  EXPECT_FALSE(read_jsonl_dataset(f).ok());
  EXPECT_FALSE(read_jsonl_dataset(tmp.file("missing.jsonl")).ok());
}

TEST(Dataset, TaskDatasetIsHeldOut) {
  auto items = task_dataset("linear", 20, 3);
  ASSERT_TRUE(items.ok());
  for (const auto& it : *items) {
    ASSERT_TRUE(it.task.has_value());
    EXPECT_TRUE(task::is_test_prompt(it.problem));
    EXPECT_TRUE(task::check_answer(*it.task, it.answer));
  }
  EXPECT_FALSE(task_dataset("nope", 1, 0).ok());
}

}  // namespace
}  // namespace r1::eval
