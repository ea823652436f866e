// Integration tests of `r1 grpo`: a tiny llama pretrained for a few steps by `r1 pretrain` (BPE
// from `r1 tokenizer train`) runs GRPO on the arith task and on a --data file; metrics.jsonl has
// every documented key per step, checkpoints load in `r1 run`, a run stopped and --resumed ends
// with the same metrics and weights as one uninterrupted run, charts are written when gnuplot
// exists, and bad flags give one-line errors.
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

std::vector<nlohmann::json> metrics(const std::string& path) {
  std::ifstream f(path);
  std::vector<nlohmann::json> out;
  std::string l;
  while (std::getline(f, l)) out.push_back(nlohmann::json::parse(l));
  return out;
}

class GrpoCli : public ::testing::Test {
 protected:
  void SetUp() override {
    R1_REQUIRE_BIN();
    std::string text;
    for (int a = 10; a < 60; ++a)
      text += "Q:" + std::to_string(a) + "+" + std::to_string(a + 7) + "=?A:" +
              std::to_string(2 * a + 7) + "\n";
    std::ofstream(dir_.file("corpus.txt")) << text;
    std::ofstream(dir_.file("config.json")) << nlohmann::json{
        {"model_type", "llama"},      {"vocab_size", 320},       {"hidden_size", 32},
        {"intermediate_size", 64},    {"num_hidden_layers", 2},  {"num_attention_heads", 4},
        {"num_key_value_heads", 2},   {"rms_norm_eps", 1e-5},    {"rope_theta", 10000.0},
        {"max_position_embeddings", 128}, {"bos_token_id", 0},   {"eos_token_id", 1}}.dump();
    std::filesystem::create_directories(dir_.file("tok"));
    ASSERT_EQ(sh(r1_bin() + " tokenizer train --data " + dir_.file("corpus.txt") +
                 " --vocab-size 300 --special '<bos>,<eos>' --bos '<bos>' --eos '<eos>' --out " +
                 dir_.file("tok/tokenizer.json") + " > /dev/null 2>&1"),
              0);
    ASSERT_EQ(sh(r1_bin() + " pretrain --model-config " + dir_.file("config.json") +
                 " --tokenizer " + dir_.file("tok/tokenizer.json") + " --data " +
                 dir_.file("corpus.txt") + " --out " + dir_.file("pt") +
                 " --steps 4 --batch 2 --seq-len 32 --threads 1 --lr 3e-3 -q > " +
                 dir_.file("pt.log") + " 2>&1"),
              0)
        << slurp(dir_.file("pt.log"));
    base_ = dir_.file("pt/checkpoint-4");
  }
  std::string grpo(const std::string& out, const std::string& extra) {
    return r1_bin() + " grpo --model " + base_ + " --out " + out +
           " --prompts-per-step 2 --num_generations 4 --max_completion_length 6 --threads 1 "
           "--learning_rate 1e-3 --seed 3 " + extra;
  }
  r1::test::TempDir dir_;
  std::string base_;
};

TEST_F(GrpoCli, TaskRunMetricsCheckpointResumeCharts) {
  const std::string a = dir_.file("a");
  // The language reward varies over this barely trained model's random completions (accuracy and
  // format are all 0 on it), so groups have non-zero advantages and the weights really move.
  const std::string opts = "--task arith --beta 0.04 --num_iterations 2 --epsilon_high 0.28 "
                           "--reward-funcs accuracy,format,language --reward-weights 1,0.5,0.5 "
                           "--dynamic-sampling --max-resample-rounds 1 ";
  ASSERT_EQ(sh(grpo(a, opts + "--steps 2 > " + dir_.file("a.log") + " 2>&1")), 0)
      << slurp(dir_.file("a.log"));
  auto m = metrics(a + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 2u);
  for (const char* k : {"step", "reward", "reward/accuracy", "reward/format", "accuracy",
                        "completion_len", "kl", "clip_frac", "entropy", "zero_std_groups",
                        "gen_tokens_per_s", "train_tokens_per_s"})
    EXPECT_TRUE(m[0].contains(k)) << k << " missing in " << m[0].dump();
  EXPECT_EQ(m[1]["step"], 2);
  EXPECT_GT(m[0]["completion_len"].get<double>(), 0.0);
  EXPECT_LE(m[0]["completion_len"].get<double>(), 6.0);
  EXPECT_GE(m[0]["kl"].get<double>(), 0.0);
  const std::string log = slurp(dir_.file("a.log"));
  EXPECT_NE(log.find("step 2/2 reward"), std::string::npos) << log;
  EXPECT_TRUE(std::filesystem::exists(a + "/checkpoint-2/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(a + "/checkpoint-2/tokenizer.json"));
  const std::string w2 = slurp(a + "/checkpoint-2/model.safetensors");  // keep-last may delete it
  if (sh("command -v gnuplot > /dev/null 2>&1") == 0) {
    for (const char* c : {"reward", "accuracy", "completion_len"})
      EXPECT_TRUE(std::filesystem::exists(a + "/charts/" + std::string(c) + ".png")) << c << log;
  }
  // --resume continues at step 3 from the saved state: weights, AdamW moments and the prompt
  // cursor. With one thread the run is deterministic, so step 3 and its checkpoint must equal an
  // uninterrupted 3-step run's exactly; a resume that lost the optimizer state or the cursor (or
  // restarted from the base) would differ.
  ASSERT_EQ(sh(grpo(a, opts + "--steps 3 --resume --no-charts > " + dir_.file("b.log") + " 2>&1")), 0)
      << slurp(dir_.file("b.log"));
  const std::string resumed = slurp(dir_.file("b.log"));
  EXPECT_NE(resumed.find("steps 3..3"), std::string::npos) << resumed;  // ran step 3 only
  EXPECT_EQ(resumed.find("step 1/3 "), std::string::npos) << "restarted instead of resuming";
  m = metrics(a + "/metrics.jsonl");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[2]["step"], 3);
  const std::string c = dir_.file("c");
  ASSERT_EQ(sh(grpo(c, opts + "--steps 3 --no-charts > " + dir_.file("c.log") + " 2>&1")), 0)
      << slurp(dir_.file("c.log"));
  const auto mc = metrics(c + "/metrics.jsonl");
  ASSERT_EQ(mc.size(), 3u);
  for (size_t i = 0; i < 3; ++i)
    for (const char* k : {"step", "reward", "reward/accuracy", "reward/format", "reward/language",
                          "accuracy", "completion_len", "kl", "clip_frac", "entropy",
                          "zero_std_groups", "loss", "grad_norm"})
      EXPECT_EQ(m[i][k], mc[i][k]) << "step " << i + 1 << " " << k;
  const std::string wa = slurp(a + "/checkpoint-3/model.safetensors");
  ASSERT_FALSE(wa.empty());
  EXPECT_TRUE(wa == slurp(c + "/checkpoint-3/model.safetensors"))
      << "resumed weights differ from an uninterrupted run's";
  // And the run did move the weights (equal checkpoints are not two untouched copies).
  EXPECT_FALSE(wa == w2);
  EXPECT_GT(m[0]["grad_norm"].get<double>(), 0.0);
  // The GRPO checkpoint is an HF directory `r1 run` loads.
  EXPECT_EQ(sh(r1_bin() + " run " + a + "/checkpoint-3 -p 'Q:12+19=?A:' -n 4 --threads 1 > " +
               dir_.file("run.log") + " 2>&1"),
            0)
      << slurp(dir_.file("run.log"));
}

TEST_F(GrpoCli, DataFileAndLossTypes) {
  std::ofstream(dir_.file("p.jsonl")) << "{\"prompt\": \"Q:11+18=?A:\", \"answer\": \"29\"}\n"
                                         "{\"prompt\": \"Q:20+27=?A:\", \"answer\": 47}\n";
  for (const char* lt : {"grpo", "dr_grpo"}) {
    const std::string out = dir_.file(std::string("d_") + lt);
    ASSERT_EQ(sh(grpo(out, std::string("--data ") + dir_.file("p.jsonl") + " --steps 1 " +
                               "--no-charts --scale_rewards false --loss_type " + lt + " > " +
                               dir_.file("d.log") + " 2>&1")),
              0)
        << slurp(dir_.file("d.log"));
    EXPECT_EQ(metrics(out + "/metrics.jsonl").size(), 1u);
  }
}

TEST_F(GrpoCli, HelpAndBadInput) {
  ASSERT_EQ(sh(r1_bin() + " grpo --help > " + dir_.file("h.txt")), 0);
  const std::string help = slurp(dir_.file("h.txt"));
  for (const char* flag :
       {"--num_generations", "--beta", "--epsilon", "--epsilon_high", "--loss_type",
        "--scale_rewards", "--num_iterations", "--max_completion_length", "--temperature",
        "--learning_rate", "--prompts-per-step", "--reward-funcs", "--dynamic-sampling",
        "--time-budget", "--resume", "--seed", "--steps"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  auto one_line_error = [&](const std::string& extra, const std::string& needle) {
    EXPECT_NE(sh(grpo(dir_.file("bad"), extra + " 2> " + dir_.file("err.txt"))), 0) << extra;
    const std::string err = slurp(dir_.file("err.txt"));
    EXPECT_NE(err.find(needle), std::string::npos) << err;
    EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  };
  one_line_error("--task arith --reward-funcs accuracy,nope", "nope");
  one_line_error("--task nosuchtask", "nosuchtask");
  one_line_error("--task arith --loss_type ppo", "ppo");
  one_line_error("--data /nonexistent.jsonl", "/nonexistent.jsonl");
  one_line_error("", "--task");
}

}  // namespace
