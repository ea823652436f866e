// Integration tests of `r1 sft`: a tiny llama (from `r1 pretrain --steps 1`) fine-tuned on
// prompt/completion pairs: loss falls, metrics.jsonl has a line per step, the checkpoint loads in
// `r1 run`, --resume after the run continues the identical loss sequence; bad input gives one line.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "core/test_util.h"

namespace {

using namespace r1::test::cli;

std::vector<double> losses(const std::string& metrics) {
  std::ifstream f(metrics);
  std::vector<double> out;
  std::string l;
  while (std::getline(f, l)) {
    auto j = nlohmann::json::parse(l);
    EXPECT_TRUE(j.contains("step") && j.contains("lr") && j.contains("completion_tokens")) << l;
    out.push_back(j["loss"].get<double>());
  }
  return out;
}

class SftCli : public ::testing::Test {
 protected:
  void SetUp() override {
    R1_REQUIRE_BIN();
    std::ofstream corpus(dir_.file("corpus.jsonl"));
    std::ofstream data(dir_.file("data.jsonl"));
    for (int a = 10; a < 40; a += 3) {
      const std::string p = "Q:" + std::to_string(a) + "+11=?A:";
      const std::string c = "<think>add</think>" + std::to_string(a + 11);
      corpus << nlohmann::json{{"text", p + c}}.dump() << "\n";
      data << nlohmann::json{{"prompt", p}, {"completion", c}}.dump() << "\n";
    }
    corpus.close();
    data.close();
    std::ofstream(dir_.file("config.json")) << nlohmann::json{
        {"model_type", "llama"},      {"vocab_size", 320},       {"hidden_size", 32},
        {"intermediate_size", 64},    {"num_hidden_layers", 2},  {"num_attention_heads", 4},
        {"num_key_value_heads", 2},   {"rms_norm_eps", 1e-5},    {"rope_theta", 10000.0},
        {"max_position_embeddings", 256}, {"bos_token_id", 0},   {"eos_token_id", 1}}.dump();
    std::filesystem::create_directories(dir_.file("tok"));
    ASSERT_EQ(sh(r1_bin() + " tokenizer train --data " + dir_.file("corpus.jsonl") +
                 " --vocab-size 300 --special '<bos>,<eos>' --bos '<bos>' --eos '<eos>' --out " +
                 dir_.file("tok/tokenizer.json") + " > /dev/null 2>&1"),
              0);
    ASSERT_EQ(sh(r1_bin() + " pretrain --model-config " + dir_.file("config.json") +
                 " --tokenizer " + dir_.file("tok/tokenizer.json") + " --data " +
                 dir_.file("corpus.jsonl") + " --out " + dir_.file("base") +
                 " --steps 1 --batch 1 --seq-len 16 --threads 1 -q > /dev/null 2>&1"),
              0);
  }
  std::string sft(const std::string& out, const std::string& extra = "") {
    return r1_bin() + " sft --model " + dir_.file("base/checkpoint-1") + " --data " +
           dir_.file("data.jsonl") + " --out " + out +
           " --steps 20 --batch 2 --seq-len 32 --lr 1e-2 --weight-decay 0 --warmup 2 --save-every 5 --threads 1 " +
           "--seed 3 " + extra;
  }
  r1::test::TempDir dir_;
};

TEST_F(SftCli, LossFallsCheckpointLoadsResumeMatches) {
  const std::string a = dir_.file("a");
  ASSERT_EQ(sh(sft(a) + " > " + dir_.file("a.log") + " 2>&1"), 0) << slurp(dir_.file("a.log"));
  const auto want = losses(a + "/metrics.jsonl");
  ASSERT_EQ(want.size(), 20u);
  EXPECT_LT(want.back(), 0.5 * want.front());
  const std::string log = slurp(dir_.file("a.log"));
  EXPECT_NE(log.find("step 20/20 loss"), std::string::npos) << log;
  EXPECT_NE(log.find("ETA"), std::string::npos) << log;
  EXPECT_EQ(sh(r1_bin() + " run " + a + "/checkpoint-20 -p 'Q:13+11=?A:' -n 6 --threads 1 > " +
               dir_.file("run.log") + " 2>&1"),
            0)
      << slurp(dir_.file("run.log"));
  // Resume from checkpoint-10 (drop the later ones): the same loss sequence.
  const std::string b = dir_.file("b");
  ASSERT_EQ(sh(sft(b, "--keep-last 10") + " > /dev/null 2>&1"), 0);
  std::filesystem::remove_all(b + "/checkpoint-20");
  std::filesystem::remove_all(b + "/checkpoint-15");
  ASSERT_EQ(sh(sft(b, "--keep-last 10 --resume") + " > " + dir_.file("b.log") + " 2>&1"), 0)
      << slurp(dir_.file("b.log"));
  EXPECT_NE(slurp(dir_.file("b.log")).find("steps 11..20"), std::string::npos)
      << slurp(dir_.file("b.log"));
  EXPECT_EQ(losses(b + "/metrics.jsonl"), want);
}

TEST_F(SftCli, HelpAndBadInput) {
  ASSERT_EQ(sh(r1_bin() + " sft --help > " + dir_.file("h.txt")), 0);
  const std::string help = slurp(dir_.file("h.txt"));
  for (const char* flag : {"--steps", "--epochs", "--lr", "--batch", "--seq-len", "--seed",
                           "--resume", "--chat", "--raw"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  std::ofstream(dir_.file("bad.jsonl")) << "{\"prompt\": \"a\", \"completion\": \"b\"}\n[1]\n";
  EXPECT_NE(sh(r1_bin() + " sft --model " + dir_.file("base/checkpoint-1") + " --data " +
               dir_.file("bad.jsonl") + " --out " + dir_.file("x") + " 2> " + dir_.file("err.txt")),
            0);
  const std::string err = slurp(dir_.file("err.txt"));
  EXPECT_NE(err.find("bad.jsonl:2"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

}  // namespace
