// Integration tests of `r1 pretrain`: a tiny llama trained on a generated corpus with a BPE
// tokenizer trained by `r1 tokenizer train`; kill -9 in the middle of a run, then --resume, must
// give exactly the loss sequence of an uninterrupted run; the checkpoint loads in `r1 run`.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>

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

std::vector<std::string> losses(const std::string& metrics) {
  std::ifstream f(metrics);
  std::vector<std::string> out;
  std::string l;
  while (std::getline(f, l)) {
    auto j = nlohmann::json::parse(l);
    EXPECT_TRUE(j.contains("step") && j.contains("lr") && j.contains("tokens_per_s")) << l;
    out.push_back(j["loss"].dump());
  }
  return out;
}

class PretrainCli : public ::testing::Test {
 protected:
  void SetUp() override {
    R1_REQUIRE_BIN();
    std::string text;
    for (int i = 0; i < 60; ++i)
      text += "Once upon a time a small robot counted to " + std::to_string(i) +
              " and then it went home to sleep. ";
    std::ofstream(dir_.file("corpus.txt")) << text;
    std::ofstream(dir_.file("config.json")) << nlohmann::json{
        {"model_type", "llama"},      {"vocab_size", 320},       {"hidden_size", 32},
        {"intermediate_size", 64},    {"num_hidden_layers", 2},  {"num_attention_heads", 4},
        {"num_key_value_heads", 2},   {"rms_norm_eps", 1e-5},    {"rope_theta", 10000.0},
        {"max_position_embeddings", 256}, {"bos_token_id", 0},   {"eos_token_id", 1}}.dump();
    std::filesystem::create_directories(dir_.file("tok"));
    ASSERT_EQ(sh(r1_bin() + " tokenizer train --data " + dir_.file("corpus.txt") +
                 " --vocab-size 300 --special '<bos>,<eos>' --bos '<bos>' --eos '<eos>' --out " +
                 dir_.file("tok/tokenizer.json") + " > /dev/null 2>&1"),
              0);
  }
  std::string pretrain(const std::string& out, const std::string& extra = "") {
    return r1_bin() + " pretrain --model-config " + dir_.file("config.json") + " --tokenizer " +
           dir_.file("tok/tokenizer.json") + " --data " + dir_.file("corpus.txt") + " --out " +
           out + " --steps 30 --batch 2 --seq-len 32 --save-every 4 --keep-last 2 --threads 1 " +
           "--lr 3e-3 --warmup 3 --seed 7 " + extra;
  }
  r1::test::TempDir dir_;
};

TEST_F(PretrainCli, KillNineThenResumeGivesIdenticalLossSequence) {
  const std::string a = dir_.file("a"), b = dir_.file("b");
  ASSERT_EQ(sh(pretrain(a) + " > " + dir_.file("a.log") + " 2>&1"), 0) << slurp(dir_.file("a.log"));
  const auto want = losses(a + "/metrics.jsonl");
  ASSERT_EQ(want.size(), 30u);
  EXPECT_LT(std::stod(want.back()), std::stod(want.front()));
  const std::string log = slurp(dir_.file("a.log"));
  EXPECT_NE(log.find("step 30/30 loss"), std::string::npos) << log;
  EXPECT_NE(log.find("tok/s"), std::string::npos);
  EXPECT_NE(log.find("ETA"), std::string::npos);
  // Start the same run and kill -9 it after step 10: R1_TEST_KILL_AFTER_STEP makes the trainer
  // SIGKILL itself there, a known point instead of a race with a polling shell (which, when the
  // run won, compared two uninterrupted runs). Checkpoint-8 is then the newest; steps 9-10 are in
  // metrics.jsonl but not in a checkpoint, so --resume must drop and redo them.
  std::string cmd = "R1_TEST_KILL_AFTER_STEP=10 ";  // += : GCC 12 -O3 bogus -Wrestrict on a + chain
  cmd += pretrain(b);
  cmd += " > " + dir_.file("killed.log") + " 2>&1";
  const int st = std::system(cmd.c_str());
  // sh either execs r1 (killed by the signal) or forks it (exits 128 + 9).
  ASSERT_TRUE((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
              (WIFEXITED(st) && WEXITSTATUS(st) == 128 + SIGKILL))
      << "status " << st << ": " << slurp(dir_.file("killed.log"));
  ASSERT_EQ(losses(b + "/metrics.jsonl").size(), 10u) << "the kill did not land after step 10";
  ASSERT_TRUE(std::filesystem::exists(b + "/checkpoint-8/trainer_state.json"));
  ASSERT_FALSE(std::filesystem::exists(b + "/checkpoint-12"));
  ASSERT_FALSE(std::filesystem::exists(b + "/checkpoint-30"));
  ASSERT_EQ(sh(pretrain(b, "--resume") + " > " + dir_.file("b.log") + " 2>&1"), 0)
      << slurp(dir_.file("b.log"));
  const std::string resumed = slurp(dir_.file("b.log"));
  EXPECT_NE(resumed.find("step 9/30 "), std::string::npos) << resumed;
  EXPECT_EQ(resumed.find("step 8/30 "), std::string::npos) << "not resumed from checkpoint-8";
  EXPECT_EQ(losses(b + "/metrics.jsonl"), want);
  // keep-last 2: only the two newest checkpoints remain.
  EXPECT_TRUE(std::filesystem::exists(b + "/checkpoint-30/model.safetensors"));
  EXPECT_TRUE(std::filesystem::exists(b + "/checkpoint-28"));
  EXPECT_FALSE(std::filesystem::exists(b + "/checkpoint-24"));
  // The checkpoint is an HF directory `r1 run` loads and generates from.
  EXPECT_EQ(sh(r1_bin() + " run " + b + "/checkpoint-30 -p 'Once upon' -n 4 --threads 1 > " +
               dir_.file("run.log") + " 2>&1"),
            0)
      << slurp(dir_.file("run.log"));
}

TEST_F(PretrainCli, DeepSeekV3FromConfigTrainsAndLoads) {
  // A tiny DeepSeek-V3 (MLA without q-LoRA, 1 dense + 1 MoE layer with a shared expert, MTP):
  // --model-config writes its random init to OUT/init, trains, and the checkpoint runs.
  std::ofstream(dir_.file("ds.json")) << nlohmann::json{
      {"model_type", "deepseek_v3"}, {"vocab_size", 320}, {"hidden_size", 32},
      {"num_attention_heads", 2}, {"num_key_value_heads", 2}, {"num_hidden_layers", 2},
      {"first_k_dense_replace", 1}, {"intermediate_size", 64}, {"moe_intermediate_size", 16},
      {"n_routed_experts", 4}, {"n_shared_experts", 1}, {"num_experts_per_tok", 2},
      {"n_group", 1}, {"topk_group", 1}, {"routed_scaling_factor", 1.0}, {"norm_topk_prob", true},
      {"scoring_func", "sigmoid"}, {"topk_method", "noaux_tc"}, {"q_lora_rank", nullptr},
      {"kv_lora_rank", 16}, {"qk_nope_head_dim", 16}, {"qk_rope_head_dim", 8},
      {"v_head_dim", 16}, {"rope_theta", 10000.0}, {"rms_norm_eps", 1e-6},
      {"max_position_embeddings", 256}, {"bos_token_id", 0}, {"eos_token_id", 1},
      {"num_nextn_predict_layers", 1}}.dump();
  const std::string out = dir_.file("ds");
  const std::string cmd = r1_bin() + " pretrain --model-config " + dir_.file("ds.json") +
                          " --tokenizer " + dir_.file("tok/tokenizer.json") + " --data " +
                          dir_.file("corpus.txt") + " --out " + out +
                          " --steps 12 --batch 2 --seq-len 32 --save-every 12 --threads 1 --lr 3e-3" +
                          " --warmup 2 --mtp-weight 0.3 -q > " + dir_.file("ds.log") + " 2>&1";
  ASSERT_EQ(sh(cmd), 0) << slurp(dir_.file("ds.log"));
  EXPECT_TRUE(std::filesystem::exists(out + "/init/model.safetensors"));
  const auto l = losses(out + "/metrics.jsonl");
  ASSERT_EQ(l.size(), 12u);
  EXPECT_LT(std::stod(l.back()), std::stod(l.front()));
  const auto cfg = nlohmann::json::parse(slurp(out + "/checkpoint-12/config.json"));
  EXPECT_EQ(cfg.value("model_type", ""), "deepseek_v3");
  EXPECT_EQ(sh(r1_bin() + " run " + out + "/checkpoint-12 -p 'Once upon' -n 4 --threads 1 > " +
               dir_.file("dsrun.log") + " 2>&1"),
            0)
      << slurp(dir_.file("dsrun.log"));
}

TEST_F(PretrainCli, Qwen3FromConfigTrainsAndLoads) {
  // A tiny Qwen3 (q/k norm, head_dim 16 != hidden / heads = 8, GQA 4:2): --model-config trains
  // it and the checkpoint keeps its q_norm/k_norm weights, config and architecture.
  std::ofstream(dir_.file("q3.json")) << nlohmann::json{
      {"model_type", "qwen3"},      {"vocab_size", 320},       {"hidden_size", 32},
      {"intermediate_size", 64},    {"num_hidden_layers", 2},  {"num_attention_heads", 4},
      {"num_key_value_heads", 2},   {"head_dim", 16},          {"rms_norm_eps", 1e-6},
      {"rope_theta", 1000000.0},    {"max_position_embeddings", 256},
      {"tie_word_embeddings", true}, {"bos_token_id", 0},      {"eos_token_id", 1}}.dump();
  const std::string out = dir_.file("q3");
  const std::string cmd = r1_bin() + " pretrain --model-config " + dir_.file("q3.json") +
                          " --tokenizer " + dir_.file("tok/tokenizer.json") + " --data " +
                          dir_.file("corpus.txt") + " --out " + out +
                          " --steps 12 --batch 2 --seq-len 32 --save-every 12 --threads 1 --lr 3e-3" +
                          " --warmup 2 -q > " + dir_.file("q3.log") + " 2>&1";
  ASSERT_EQ(sh(cmd), 0) << slurp(dir_.file("q3.log"));
  const auto l = losses(out + "/metrics.jsonl");
  ASSERT_EQ(l.size(), 12u);
  EXPECT_LT(std::stod(l.back()), std::stod(l.front()));
  const auto cfg = nlohmann::json::parse(slurp(out + "/checkpoint-12/config.json"));
  EXPECT_EQ(cfg.value("model_type", ""), "qwen3");
  EXPECT_EQ(cfg["architectures"][0], "Qwen3ForCausalLM");
  EXPECT_EQ(cfg.value("head_dim", 0), 16);
  const std::string st = slurp(out + "/checkpoint-12/model.safetensors");
  EXPECT_NE(st.find("model.layers.1.self_attn.k_norm.weight"), std::string::npos);
  EXPECT_EQ(st.find("q_proj.bias"), std::string::npos);
  EXPECT_EQ(sh(r1_bin() + " run " + out + "/checkpoint-12 -p 'Once upon' -n 4 --threads 1 > " +
               dir_.file("q3run.log") + " 2>&1"),
            0)
      << slurp(dir_.file("q3run.log"));
}

TEST_F(PretrainCli, HelpAndBadInput) {
  ASSERT_EQ(sh(r1_bin() + " pretrain --help > " + dir_.file("h.txt")), 0);
  const std::string help = slurp(dir_.file("h.txt"));
  for (const char* flag : {"--steps", "--lr", "--batch", "--seq-len", "--warmup", "--weight-decay",
                           "--clip", "--accum", "--save-every", "--keep-last", "--resume",
                           "--init-from", "--seed"})
    EXPECT_NE(help.find(flag), std::string::npos) << flag;
  EXPECT_NE(sh(r1_bin() + " pretrain --model-config " + dir_.file("config.json") +
               " --tokenizer " + dir_.file("tok/tokenizer.json") + " --data /nonexistent.txt --out " +
               dir_.file("x") + " 2> " + dir_.file("err.txt")),
            0);
  const std::string err = slurp(dir_.file("err.txt"));
  EXPECT_NE(err.find("/nonexistent.txt"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
}

}  // namespace
