// Integration tests of `r1 verify`, `r1 task` and `r1 eval`: the built binary ($R1_BIN). The eval
// test runs on a tiny random-weight model from `r1 init-model --preset qwen2-tiny` with a 256-token
// byte-level tokenizer written here (the preset's vocabulary is 256).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "core/test_util.h"

namespace {

using namespace r1::test::cli;

using nlohmann::json;

std::vector<std::string> lines_of(const std::string& path) {
  std::ifstream f(path);
  std::vector<std::string> v;
  std::string l;
  while (std::getline(f, l)) v.push_back(l);
  return v;
}

#define REQUIRE_BIN() R1_REQUIRE_BIN()

TEST(VerifyCli, Pairs) {
  REQUIRE_BIN();
  EXPECT_EQ(run_r1({"verify", "\\frac{1}{2}", "0.5"}).out, "true\n");
  EXPECT_EQ(run_r1({"verify", "\\frac{1}{2}", "The answer is \\boxed{\\dfrac12}."}).out, "true\n");
  EXPECT_EQ(run_r1({"verify", "(3,4]", "(3,4)"}).out, "false\n");
  // The three classes of issue 20: tiny magnitudes, malformed LaTeX, repeating decimals.
  EXPECT_EQ(run_r1({"verify", "10^{-30}", "2\\times 10^{-30}"}).out, "false\n");
  EXPECT_EQ(run_r1({"verify", "12", "The answer is \\boxed{12"}).out, "false\n");
  EXPECT_EQ(run_r1({"verify", "\\frac{1}{2}", "\\frac{1}{2"}).out, "false\n");
  EXPECT_EQ(run_r1({"verify", "\\frac{8}{7}", "1.\\overline{142857}"}).out, "true\n");
  EXPECT_EQ(run_r1({"verify", "\\frac{1}{3}", "0.333"}).out, "false\n");
  CliRun r = run_r1({"verify", "10"});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("r1 verify:"), std::string::npos);
}

TEST(VerifyCli, Jsonl) {
  REQUIRE_BIN();
  r1::test::TempDir tmp;
  const std::string f = tmp.file("pairs.jsonl");
  std::ofstream(f) << R"({"gold": "1,000", "pred": "1000"})" << "\n"
                   << R"({"gold": 70, "pred": "\\boxed{71}"})" << "\n\n"
                   << R"({"gold": "x=5", "pred": "5"})" << "\n";
  CliRun r = run_r1({"verify", "--jsonl", f});
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "true\nfalse\ntrue\n");
  std::ofstream(f) << R"({"gold": "1", "pred": "1"})" << "\n" << R"({"gold": "1"})" << "\n";
  r = run_r1({"verify", "--jsonl", f});
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("pairs.jsonl:2:"), std::string::npos) << r.err;
  std::ofstream(f) << "{not json\n";
  r = run_r1({"verify", "--jsonl", f});
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("pairs.jsonl:1: not valid JSON"), std::string::npos) << r.err;
}

TEST(TaskCli, GenDeterministicAndHeldOut) {
  REQUIRE_BIN();
  r1::test::TempDir tmp;
  ASSERT_EQ(run_r1({"task", "gen", "--name", "arith", "--n", "50", "--seed", "3", "--split", "test", "--out", tmp.file("a.jsonl")}).rc, 0);
  ASSERT_EQ(run_r1({"task", "gen", "--name", "arith", "--n", "50", "--seed", "3", "--split", "test", "--out", tmp.file("b.jsonl")}).rc, 0);
  ASSERT_EQ(run_r1({"task", "gen", "--name", "arith", "--n", "500", "--seed", "3", "--out", tmp.file("train.jsonl")}).rc, 0);
  const auto a = lines_of(tmp.file("a.jsonl"));
  EXPECT_EQ(a, lines_of(tmp.file("b.jsonl")));
  ASSERT_EQ(a.size(), 50u);
  std::set<std::string> test_prompts;
  for (const auto& l : a) {
    const json j = json::parse(l);
    EXPECT_EQ(j["split"], "test");
    test_prompts.insert(j["prompt"].get<std::string>());
    const std::string sol = j["solution"];
    EXPECT_EQ(sol.substr(sol.find("</think>") + 8), j["answer"].get<std::string>());
  }
  for (const auto& l : lines_of(tmp.file("train.jsonl"))) EXPECT_FALSE(test_prompts.count(json::parse(l)["prompt"]));
  CliRun bad = run_r1({"task", "gen", "--name", "nope", "--out", tmp.file("c.jsonl")});
  EXPECT_EQ(bad.rc, 2);
  EXPECT_NE(bad.err.find("unknown task 'nope'"), std::string::npos) << bad.err;
}

TEST(TaskCli, Corpus) {
  REQUIRE_BIN();
  r1::test::TempDir tmp;
  CliRun r = run_r1({"task", "corpus", "--name", "arith", "--n", "400", "--seed", "1", "--out", tmp.file("c.txt")});
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto docs = lines_of(tmp.file("c.txt"));
  ASSERT_EQ(docs.size(), 400u);
  int think = 0;
  for (const auto& d : docs) {
    EXPECT_EQ(d.rfind("Q:", 0), 0u) << d;
    think += d.find("<think>") != std::string::npos;
  }
  EXPECT_NEAR(think / 400.0, 0.35, 0.08);
  ASSERT_EQ(run_r1({"task", "corpus", "--name", "countdown", "--n", "20", "--out", tmp.file("c.jsonl")}).rc, 0);
  const auto js = lines_of(tmp.file("c.jsonl"));
  ASSERT_EQ(js.size(), 20u);
  EXPECT_TRUE(json::parse(js[0]).contains("text"));
}

// GPT-2's byte <-> unicode table: printable bytes map to themselves, the rest to U+0100 on.
std::string byte_level_tokenizer_json() {
  std::vector<int> bs, cs;
  for (int b = 0; b < 256; ++b)
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) bs.push_back(b);
  cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b) {
    bool in = false;
    for (int x : bs) in |= x == b;
    if (!in) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  }
  json vocab = json::object();
  for (size_t i = 0; i < bs.size(); ++i) {
    const int cp = cs[i];
    std::string u;
    if (cp < 0x80) u.push_back(static_cast<char>(cp));
    else {
      u.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      u.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
    vocab[u] = bs[i];  // id = byte value
  }
  json j = {{"version", "1.0"},
            {"added_tokens", json::array()},
            {"normalizer", nullptr},
            {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}}},
            {"decoder", {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}}},
            {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array()}}}};
  return j.dump();
}

TEST(EvalCli, TinyModelResultsAndOutputs) {
  REQUIRE_BIN();
  r1::test::TempDir tmp;
  const std::string model = tmp.file("tiny");
  CliRun init = run_r1({"init-model", "--preset", "qwen2-tiny", "--out", model, "--seed", "1"});
  ASSERT_EQ(init.rc, 0) << init.err;
  std::ofstream(model + "/tokenizer.json") << byte_level_tokenizer_json();
  const std::string data = tmp.file("d.jsonl");
  std::ofstream(data) << R"({"problem": "What is 1+1?", "answer": "2"})" << "\n"
                      << R"({"question": "Half of one?", "answer": "#### 0.5"})" << "\n";
  const std::string out = tmp.file("out");
  CliRun r = run_r1({"eval", "--model", model, "--data", data, "-k", "2", "--max-tokens", "6", "--threads", "1",
                  "--seed", "5", "--out", out});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::ifstream rf(out + "/results.json");
  ASSERT_TRUE(rf) << "no results.json";
  const json res = json::parse(rf);
  for (const char* key : {"n_problems", "k", "pass@1", "cons@k", "pass@k", "mean_completion_tokens"})
    EXPECT_TRUE(res.contains(key)) << key;
  EXPECT_EQ(res["n_problems"], 2);
  EXPECT_EQ(res["k"], 2);
  EXPECT_LE(res["mean_completion_tokens"].get<double>(), 6.0);
  const auto outs = lines_of(out + "/outputs.jsonl");
  ASSERT_EQ(outs.size(), 4u);
  EXPECT_EQ(json::parse(outs[3])["gold"], "0.5");
  EXPECT_NE(r.out.find("pass@1"), std::string::npos);

  // The embedded task with raw prompts, and bad input.
  r = run_r1({"eval", "--model", model, "--task", "arith", "--n", "2", "-k", "2", "--max-tokens", "4", "--threads", "1",
              "--out", tmp.file("out2")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(tmp.file("out2") + "/outputs.jsonl").size(), 4u);
  // Batched decoding of the k samples gives exactly the sequential samples (same seeds).
  r = run_r1({"eval", "--model", model, "--task", "arith", "--n", "3", "-k", "4", "--max-tokens", "12", "--threads", "1",
              "--seed", "9", "--no-batch", "--out", tmp.file("out3")});
  ASSERT_EQ(r.rc, 0) << r.err;
  r = run_r1({"eval", "--model", model, "--task", "arith", "--n", "3", "-k", "4", "--max-tokens", "12", "--threads", "1",
              "--seed", "9", "--out", tmp.file("out4")});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(lines_of(tmp.file("out3") + "/outputs.jsonl"), lines_of(tmp.file("out4") + "/outputs.jsonl"));
  r = run_r1({"eval", "--model", model, "--data", tmp.file("missing.jsonl")});
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
  r = run_r1({"eval", "--model", model});
  EXPECT_EQ(r.rc, 2);
}

}  // namespace
