// Integration tests of `r1 run` (and the argument handling of `r1 bench`/`r1 chat`): the built
// binary ($R1_BIN) on stories260K against llama.cpp's greedy continuation and the independent
// float64 greedy reference in ../shared/models/stories260K.
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

json load_json(const std::string& path) {
  std::ifstream f(path);
  return json::parse(f);
}

class RunCli : public ::testing::Test {
 protected:
  void SetUp() override {
    R1_REQUIRE_BIN();
    R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  }
  std::string model() const { return stories_dir() + "/stories260K.gguf"; }
};

// Exactly one line on stderr, non-zero exit.
void expect_one_line_error(const CliRun& r) {
  EXPECT_NE(r.rc, 0);
  EXPECT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "stderr: " << r.err;
}

TEST_F(RunCli, GreedyTextMatchesLlamaCpp) {
  const json want = load_json(stories_dir() + "/expected_once_upon_a_time.json");
  auto r = run_r1({"run", model(), "-p", want["prompt_text"], "-n", "96", "--temp", "0", "-t", "1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  // stdout is the continuation only, exactly, with no trailing newline added.
  EXPECT_EQ(r.out, want["greedy_text"].get<std::string>());
  EXPECT_NE(r.err.find("prompt: 5 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tok/s"), std::string::npos) << r.err;
}

TEST_F(RunCli, GreedyIdsMatchLlamaCpp) {
  const json want = load_json(stories_dir() + "/expected_once_upon_a_time.json");
  auto r = run_r1({"run", model(), "-p", want["prompt_text"], "-n", "96", "--temp", "0", "-t",
                   "1", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json got = json::parse(r.out);
  EXPECT_EQ(got["prompt_ids"], want["prompt_ids"]);
  EXPECT_EQ(got["ids"], want["greedy_ids"]);
  EXPECT_EQ(got["text"], want["greedy_text"]);
  EXPECT_EQ(got["finish_reason"], "length");
  EXPECT_EQ(got["completion_tokens"], 96);
}

TEST_F(RunCli, GreedyFromBosMatchesFloat64Reference) {
  const json want = load_json(stories_dir() + "/greedy_reference.json");
  const size_t n = want["greedy_ids"].size();
  auto r = run_r1({"run", model(), "-p", "", "-n", std::to_string(n), "--temp", "0", "-t", "1",
                   "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json got = json::parse(r.out);
  EXPECT_EQ(got["prompt_ids"], want["prompt_ids"]);
  EXPECT_EQ(got["ids"], want["greedy_ids"]);
}

TEST_F(RunCli, PromptFromStdin) {
  const json want = load_json(stories_dir() + "/expected_once_upon_a_time.json");
  const std::string prompt = want["prompt_text"];
  auto r = run_r1({"run", model(), "-n", "96", "--temp", "0", "-t", "1"}, &prompt);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, want["greedy_text"].get<std::string>());
}

TEST_F(RunCli, ContextFullIsLengthNotCrash) {
  auto r = run_r1({"run", model(), "-p", "Once upon a time", "-n", "96", "--temp", "0", "-t", "1",
                   "--ctx-size", "16", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json got = json::parse(r.out);
  EXPECT_EQ(got["finish_reason"], "length");
  // Prompt (5) + generated fill the 16 positions exactly.
  EXPECT_EQ(got["ids"].size(), 16u - got["prompt_ids"].size());
}

TEST_F(RunCli, PromptLongerThanContextIsOneLineError) {
  auto r = run_r1({"run", model(), "-p", "Once upon a time", "--ctx-size", "5", "-t", "1"});
  expect_one_line_error(r);
  EXPECT_NE(r.err.find("context"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
}

TEST_F(RunCli, StopStringEndsBeforeIt) {
  const json want = load_json(stories_dir() + "/expected_once_upon_a_time.json");
  const std::string text = want["greedy_text"];
  auto r = run_r1({"run", model(), "-p", want["prompt_text"], "-n", "96", "--temp", "0", "-t",
                   "1", "--stop", "red ball", "--stop", "no such text", "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const json got = json::parse(r.out);
  EXPECT_EQ(got["finish_reason"], "stop");
  EXPECT_EQ(got["text"], text.substr(0, text.find("red ball")));
  // Streaming prints the same text.
  auto s = run_r1({"run", model(), "-p", want["prompt_text"], "-n", "96", "--temp", "0", "-t", "1",
                   "--stop", "red ball"});
  EXPECT_EQ(s.out, text.substr(0, text.find("red ball")));
}

TEST_F(RunCli, SeedReproducible) {
  auto args = std::vector<std::string>{"run", model(), "-p", "Once upon a time", "-n", "40",
                                       "--temp", "1.0", "--top-k", "0", "--top-p", "1", "--min-p",
                                       "0", "-t", "1", "--json", "--seed", "42"};
  auto a = run_r1(args);
  auto b = run_r1(args);
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(json::parse(a.out)["ids"], json::parse(b.out)["ids"]);
  args.back() = "43";
  auto c = run_r1(args);
  EXPECT_NE(json::parse(a.out)["ids"], json::parse(c.out)["ids"]);
}

TEST_F(RunCli, BadFlagsAreOneLineErrors) {
  expect_one_line_error(run_r1({"run", model(), "--temp", "abc"}));
  expect_one_line_error(run_r1({"run", model(), "--no-such-flag"}));
  expect_one_line_error(run_r1({"run", model(), "--top-p", "2"}));
  expect_one_line_error(run_r1({"run", model(), "-n"}));
  expect_one_line_error(run_r1({"run", "-p", "hi"}));  // no model
  expect_one_line_error(run_r1({"run", "/no/such/model.gguf", "-p", "hi"}));
  expect_one_line_error(run_r1({"bench", "--reps", "0", model()}));
  auto help = run_r1({"run", "--help"});
  EXPECT_EQ(help.rc, 0);
  EXPECT_NE(help.out.find("0.6"), std::string::npos) << "--help must state the R1 defaults";
}

TEST_F(RunCli, BenchPrintsTable) {
  auto r = run_r1({"bench", model(), "-p", "32", "-n", "8", "-r", "2", "-t", "1", "--bw-mib", "64"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("pp32"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("tg8"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("GB/s"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("of the bandwidth ceiling"), std::string::npos) << r.out;
}

}  // namespace

// `r1 chat` end to end: stories260K rewritten (by our GGUF writer) with a minimal chat template
// that concatenates the messages, so the first reply must be the known greedy continuation and
// the second turn must reuse the cached prefix.
#include "io/gguf.h"
#include "io/gguf_writer.h"

namespace {

TEST_F(RunCli, ChatTurnsWithTemplate) {
  auto src = r1::io::GgufFile::open(model());
  ASSERT_TRUE(src.ok()) << src.message();
  r1::io::GgufWriter w;
  for (const auto& key : src->keys()) {
    if (key == "general.alignment") continue;
    w.set(key, *src->get(key));
  }
  w.set_string("tokenizer.chat_template",
               "{% for m in messages %}{{ m['content'] }}{% endfor %}");
  for (const auto& name : src->names()) {
    auto t = src->tensor(name);
    ASSERT_TRUE(t.ok()) << t.message();
    ASSERT_TRUE(w.add_tensor(name, t.value()).ok());
  }
  r1::test::TempDir tmp;
  const std::string path = tmp.file("chat.gguf");
  auto wr = w.write(path);
  ASSERT_TRUE(wr.ok()) << wr.message();

  const json want = load_json(stories_dir() + "/expected_once_upon_a_time.json");
  const std::string input = want["prompt_text"].get<std::string>() + "\n/exit\n";
  auto r = run_r1({"chat", path, "--temp", "0", "-n", "96", "-t", "1"}, &input);
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, want["greedy_text"].get<std::string>() + "\n");
  EXPECT_NE(r.err.find("[prompt: 5 tokens (0 cached)"), std::string::npos) << r.err;

  // A second turn: its prompt starts with the first prompt + reply, which stay in the cache.
  const std::string two = want["prompt_text"].get<std::string>() + "\nThe end.\n";
  auto r2 = run_r1({"chat", path, "--temp", "0", "-n", "8", "-t", "1"}, &two);
  ASSERT_EQ(r2.rc, 0) << r2.err;
  const auto second = r2.err.find("[prompt:", r2.err.find("[prompt:") + 1);
  ASSERT_NE(second, std::string::npos) << r2.err;
  EXPECT_EQ(r2.err.find("(0 cached)", second), std::string::npos) << r2.err;
}

// `r1 chat --thinking-budget N`: a template that opens <think> (as R1's do); stories260K never
// closes it on its own, so without a budget the whole reply is reasoning, and with one the
// closing tag is forced after N tokens and the model answers.
TEST_F(RunCli, ChatThinkingBudgetForcesTheEndOfReasoning) {
  auto src = r1::io::GgufFile::open(model());
  ASSERT_TRUE(src.ok()) << src.message();
  r1::io::GgufWriter w;
  for (const auto& key : src->keys()) {
    if (key == "general.alignment") continue;
    w.set(key, *src->get(key));
  }
  w.set_string("tokenizer.chat_template",
               "{% for m in messages %}{{ m['content'] }}{% endfor %}<think>\n");
  for (const auto& name : src->names()) {
    auto t = src->tensor(name);
    ASSERT_TRUE(t.ok()) << t.message();
    ASSERT_TRUE(w.add_tensor(name, t.value()).ok());
  }
  r1::test::TempDir tmp;
  const std::string path = tmp.file("think.gguf");
  ASSERT_TRUE(w.write(path).ok());
  const std::string input = "Once upon a time\n/exit\n";
  // Off a terminal the reply prints as "<think>\n" reasoning "\n</think>\n\n" answer "\n".
  auto split = [](const std::string& out) {
    const auto end = out.find("\n</think>\n\n");
    EXPECT_EQ(out.rfind("<think>\n", 0), 0u) << out;
    EXPECT_NE(end, std::string::npos) << out;
    if (end == std::string::npos || end < 8) return std::pair<std::string, std::string>{};
    return std::pair{out.substr(8, end - 8), out.substr(end + 11)};
  };
  auto free = run_r1({"chat", path, "--temp", "0", "-n", "24", "-t", "1"}, &input);
  ASSERT_EQ(free.rc, 0) << free.err;
  const auto [free_reasoning, free_answer] = split(free.out);
  EXPECT_EQ(free_answer, "\n") << free.out;  // never closed: all reasoning
  auto budget = run_r1({"chat", path, "--temp", "0", "-n", "24", "-t", "1", "--thinking-budget", "3"}, &input);
  ASSERT_EQ(budget.rc, 0) << budget.err;
  const auto [reasoning, answer] = split(budget.out);
  // The reasoning is the first three tokens of the free run's, and an answer follows.
  EXPECT_FALSE(reasoning.empty());
  EXPECT_LT(reasoning.size(), 40u) << reasoning;
  EXPECT_EQ(free_reasoning.substr(0, reasoning.size()), reasoning);
  EXPECT_GT(answer.size(), 4u) << budget.out;
  expect_one_line_error(run_r1({"chat", path, "--thinking-budget", "-2"}, &input));
}

TEST_F(RunCli, ChatWithoutTemplateIsOneLineError) {
  expect_one_line_error(run_r1({"chat", model()}));
  expect_one_line_error(run_r1({"run", model(), "--chat", "-p", "hi"}));
}

}  // namespace
