// Integration tests of `r1 tokenize` and `r1 tokenizer train`: the built binary ($R1_BIN) on the
// shared reference cases (tokenizers/cases-sample), the stories260K GGUF, bad input lines, and
// a trained tokenizer read back.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "core/test_util.h"

namespace {

using namespace r1::test::cli;

using nlohmann::json;

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  std::stringstream ss(s);
  std::string l;
  while (std::getline(ss, l)) v.push_back(l);
  return v;
}

#define SKIP_UNLESS_READY()                                                                     \
  do {                                                                                          \
    R1_REQUIRE_BIN();                                                                           \
    R1_SKIP_UNLESS_SHARED("tokenizers");                                                        \
  } while (0)

class TokenizeCli : public ::testing::TestWithParam<const char*> {};

TEST_P(TokenizeCli, IdsAndDecodeMatchSharedCases) {
  SKIP_UNLESS_READY();
  const std::string name = GetParam();
  std::vector<json> cases;
  for (const std::string& l : lines(slurp(shared_root() + "/tokenizers/cases-sample/" + name + ".jsonl"))) {
    if (!l.empty()) cases.push_back(json::parse(l));
  }
  ASSERT_FALSE(cases.empty());
  std::string texts, id_lines;
  for (const json& c : cases) {
    texts += c["text"].dump() + "\n";
    id_lines += c["ids"].dump() + "\n";
  }
  r1::test::TempDir dir;
  const std::string model_dir = quote(shared_root() + "/tokenizers/" + name);
  const CliRun enc = run_r1("tokenize " + model_dir + " --ids", texts, dir);
  ASSERT_EQ(enc.rc, 0) << enc.err;
  const auto got = lines(enc.out);
  ASSERT_EQ(got.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(json::parse(got[i]), cases[i]["ids"]) << name << " case " << i << ": " << cases[i]["text"].dump();
  }
  const CliRun dec = run_r1("tokenize " + model_dir + " --decode", id_lines, dir);
  ASSERT_EQ(dec.rc, 0) << dec.err;
  const auto got_text = lines(dec.out);
  ASSERT_EQ(got_text.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(json::parse(got_text[i]), cases[i]["decoded"]) << name << " case " << i;
  }
  // The tokenizer.json path itself works as well as the directory.
  const CliRun file = run_r1("tokenize " + quote(shared_root() + "/tokenizers/" + name + "/tokenizer.json"), texts, dir);
  ASSERT_EQ(file.rc, 0) << file.err;
  EXPECT_EQ(file.out, enc.out);
}

INSTANTIATE_TEST_SUITE_P(Shared, TokenizeCli,
                         ::testing::Values("deepseek_v3", "qwen2_5", "qwen3", "r1_distill_qwen"));

TEST(TokenizeCliMisc, AddBosAndGguf) {
  SKIP_UNLESS_READY();
  r1::test::TempDir dir;
  const CliRun ds = run_r1("tokenize " + quote(shared_root() + "/tokenizers/deepseek_v3") + " --ids --add-bos",
                        "\"hi\"\n", dir);
  ASSERT_EQ(ds.rc, 0) << ds.err;
  EXPECT_EQ(json::parse(lines(ds.out).at(0)).at(0), 0);

  const std::string gguf = stories_dir() + "/stories260K.gguf";
  const json ref = json::parse(slurp(stories_dir() + "/expected_once_upon_a_time.json"));
  const CliRun st = run_r1("tokenize " + quote(gguf) + " --ids --add-bos", ref["prompt_text"].dump() + "\n", dir);
  ASSERT_EQ(st.rc, 0) << st.err;
  EXPECT_EQ(json::parse(lines(st.out).at(0)), ref["prompt_ids"]);
  const CliRun back = run_r1("tokenize " + quote(gguf) + " --decode", ref["greedy_ids"].dump() + "\n", dir);
  ASSERT_EQ(back.rc, 0) << back.err;
  // decode() drops SentencePiece's leading space; the continuation starts with ','.
  EXPECT_EQ(json::parse(lines(back.out).at(0)), ref["greedy_text"]);
}

TEST(TokenizeCliMisc, EscapesAndLoneSurrogates) {
  SKIP_UNLESS_READY();
  r1::test::TempDir dir;
  const std::string q = quote(shared_root() + "/tokenizers/qwen2_5");
  // Tabs/newlines escaped in JSON, a surrogate pair, and a lone surrogate (U+FFFD, as JS encodes it).
  const CliRun r = run_r1("tokenize " + q, "\"a\\tb\\nc\"\n\"\\ud83d\\ude00\"\n\"x\\ud800y\"\n", dir);
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto l = lines(r.out);
  ASSERT_EQ(l.size(), 3u);
  const CliRun d = run_r1("tokenize " + q + " --decode", r.out, dir);
  ASSERT_EQ(d.rc, 0) << d.err;
  const auto texts = lines(d.out);
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_EQ(json::parse(texts[0]), "a\tb\nc");
  EXPECT_EQ(json::parse(texts[1]), "\xF0\x9F\x98\x80");
  EXPECT_EQ(json::parse(texts[2]), "x\xEF\xBF\xBDy");
}

TEST(TokenizeCliMisc, BadLinesFailWithLineNumber) {
  SKIP_UNLESS_READY();
  r1::test::TempDir dir;
  const std::string q = quote(shared_root() + "/tokenizers/qwen2_5");
  // A bad line in the middle answers null and the batch goes on (output line k = input line k).
  const CliRun bad = run_r1("tokenize " + q + " --ids", "\"ok\"\nnot json\n42\n\"after\"\n", dir);
  EXPECT_EQ(bad.rc, 1);
  EXPECT_NE(bad.err.find("line 2"), std::string::npos) << bad.err;
  EXPECT_NE(bad.err.find("line 3"), std::string::npos) << bad.err;  // a non-string JSON value
  const auto bad_out = lines(bad.out);
  ASSERT_EQ(bad_out.size(), 4u) << bad.out;
  EXPECT_EQ(bad_out[1], "null");
  EXPECT_EQ(bad_out[2], "null");
  EXPECT_EQ(bad_out[3], run_r1("tokenize " + q + " --ids", "\"after\"\n", dir).out.substr(0, bad_out[3].size()));
  EXPECT_EQ(lines(bad.err).size(), 2u);

  const CliRun bad_ids = run_r1("tokenize " + q + " --decode", "[1,2]\n[1,\"x\"]\n\"str\"\n[3]\n", dir);
  EXPECT_EQ(bad_ids.rc, 1);
  EXPECT_NE(bad_ids.err.find("line 2"), std::string::npos) << bad_ids.err;
  EXPECT_NE(bad_ids.err.find("line 3"), std::string::npos) << bad_ids.err;
  const auto bad_ids_out = lines(bad_ids.out);
  ASSERT_EQ(bad_ids_out.size(), 4u) << bad_ids.out;
  EXPECT_EQ(bad_ids_out[1], "null");
  EXPECT_EQ(json::parse(bad_ids_out[3]), "$");  // qwen2.5 id 3 is the byte '$'

  const CliRun kind = run_r1("tokenize " + quote(shared_root() + "/tokenizers/README.md"), "\"x\"\n", dir);
  EXPECT_NE(kind.rc, 0);
  EXPECT_EQ(lines(kind.err).size(), 1u) << kind.err;
  EXPECT_TRUE(kind.out.empty());
  const CliRun range = run_r1("tokenize " + q + " --decode", "[99999999]\n", dir);
  EXPECT_NE(range.rc, 0);
  EXPECT_NE(range.err.find("line 1"), std::string::npos) << range.err;

  const CliRun missing = run_r1("tokenize /no/such/tokenizer.json", "\"x\"\n", dir);
  EXPECT_NE(missing.rc, 0);
  EXPECT_NE(missing.err.find("/no/such"), std::string::npos) << missing.err;
}

TEST(TokenizerTrainCli, TrainsAWorkingTokenizer) {
  R1_REQUIRE_BIN();  // its corpus is made here: it needs nothing from ../shared
  r1::test::TempDir dir;
  std::string corpus;
  for (int i = 0; i < 50; ++i) {
    corpus += json({{"text", "<think>\nThe sum of " + std::to_string(i) + " and 7 is " + std::to_string(i + 7) +
                                 ".\n</think>\nAnswer: " + std::to_string(i + 7)}})
                  .dump() +
              "\n";
  }
  {
    std::ofstream f(dir.file("corpus.jsonl"));
    f << corpus;
  }
  const std::string out = dir.file("tok/tokenizer.json");
  std::filesystem::create_directories(dir.file("tok"));
  const CliRun train = run_r1("tokenizer train --data " + quote(dir.file("corpus.jsonl")) +
                               " --vocab-size 300 --out " + quote(out) +
                               " --special '<think>,</think>' --bos '<|bos|>' --eos '<|eos|>'",
                           "", dir);
  ASSERT_EQ(train.rc, 0) << train.err;
  ASSERT_TRUE(std::filesystem::exists(dir.file("tok/tokenizer_config.json")));
  const CliRun enc = run_r1("tokenize " + quote(dir.file("tok")) + " --add-bos", "\"<think>The sum</think>\"\n", dir);
  ASSERT_EQ(enc.rc, 0) << enc.err;
  const json ids = json::parse(lines(enc.out).at(0));
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 2);  // <|bos|> follows the two --special tokens
  EXPECT_EQ(ids[1], 0);  // <think> is one token
  EXPECT_EQ(ids.back(), 1);
  const CliRun dec = run_r1("tokenize " + quote(dir.file("tok")) + " --decode", ids.dump() + "\n", dir);
  ASSERT_EQ(dec.rc, 0) << dec.err;
  EXPECT_EQ(json::parse(lines(dec.out).at(0)), "<|bos|><think>The sum</think>");

  const CliRun bad = run_r1("tokenizer train --data " + quote(dir.file("corpus.jsonl")) + " --vocab-size 10 --out " +
                             quote(dir.file("x.json")),
                         "", dir);
  EXPECT_NE(bad.rc, 0);
  EXPECT_NE(bad.err.find("vocab size"), std::string::npos) << bad.err;
}

}  // namespace
