// Integration tests of `r1 distill`: a tiny llama teacher pretrained (300 steps of `r1 pretrain`, ~0.1 s) on
// correct think traces of three problems samples traces for them; the verifier keeps correct,
// well-formed ones; a qwen2 student of another size is fine-tuned on them; traces.jsonl,
// distill_stats.json and the student checkpoint exist and the checkpoint loads in `r1 run`.
// A student with another vocabulary is refused with a one-line error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "core/test_util.h"

namespace {

using namespace r1::test::cli;

nlohmann::json config(const std::string& arch, int hidden, int layers) {
  return {{"model_type", arch},          {"vocab_size", 320},        {"hidden_size", hidden},
          {"intermediate_size", 2 * hidden}, {"num_hidden_layers", layers}, {"num_attention_heads", 4},
          {"num_key_value_heads", 2},    {"rms_norm_eps", 1e-5},     {"rope_theta", 10000.0},
          {"max_position_embeddings", 256}, {"bos_token_id", 0},     {"eos_token_id", 1},
          {"tie_word_embeddings", arch == "qwen2"}};
}

struct Item {
  const char* prompt;
  const char* trace;
  const char* answer;
};
const Item kItems[] = {{"Q:12+34=?A:", "<think>2+4=6 1+3=4</think>46", "46"},
                       {"Q:27+15=?A:", "<think>7+5=12 2+1+1=4</think>42", "42"},
                       {"Q:53-21=?A:", "<think>3-1=2 5-2=3</think>32", "32"}};

class DistillCli : public ::testing::Test {
 protected:
  void SetUp() override {
    R1_REQUIRE_BIN();
    std::ofstream corpus(dir_.file("corpus.jsonl"));
    std::ofstream prompts(dir_.file("prompts.jsonl"));
    for (int rep = 0; rep < 20; ++rep)
      for (const Item& it : kItems)
        corpus << nlohmann::json{{"text", std::string(it.prompt) + it.trace}}.dump() << "\n";
    for (const Item& it : kItems)
      prompts << nlohmann::json{{"prompt", it.prompt}, {"answer", it.answer}}.dump() << "\n";
    corpus.close();
    prompts.close();
    std::ofstream(dir_.file("teacher.json")) << config("llama", 48, 2).dump();
    std::ofstream(dir_.file("student.json")) << config("qwen2", 32, 1).dump();
    std::filesystem::create_directories(dir_.file("tok"));
    ASSERT_EQ(sh(r1_bin() + " tokenizer train --data " + dir_.file("corpus.jsonl") +
                 " --vocab-size 300 --special '<bos>,<eos>,<think>,</think>' --bos '<bos>' --eos '<eos>' --out " +
                 dir_.file("tok/tokenizer.json") + " > /dev/null 2>&1"),
              0);
  }
  // A model trained by `r1 pretrain` for `steps` steps: its HF checkpoint directory.
  std::string pretrain(const std::string& cfg, const std::string& tok, int steps,
                       const std::string& out) {
    const std::string cmd = r1_bin() + " pretrain --model-config " + cfg + " --tokenizer " + tok +
                            " --data " + dir_.file("corpus.jsonl") + " --out " + out +
                            " --steps " + std::to_string(steps) +
                            " --batch 4 --seq-len 32 --lr 5e-3 --warmup 5 --threads 1 -q > " +
                            out + ".log 2>&1";
    EXPECT_EQ(sh(cmd), 0) << slurp(out + ".log");
    return out + "/checkpoint-" + std::to_string(steps);
  }
  r1::test::TempDir dir_;
};

TEST_F(DistillCli, TeacherTracesFilteredThenStudentFineTuned) {
  const std::string tok = dir_.file("tok/tokenizer.json");
  const std::string teacher = pretrain(dir_.file("teacher.json"), tok, 300, dir_.file("t"));
  const std::string student = pretrain(dir_.file("student.json"), tok, 1, dir_.file("s"));
  const std::string out = dir_.file("d");
  const std::string log = dir_.file("d.log");
  ASSERT_EQ(sh(r1_bin() + " distill --teacher " + teacher + " --student " + student + " --data " +
               dir_.file("prompts.jsonl") + " --out " + out +
               " -k 6 --temp 0.7 --max-tokens 48 --steps 12 --batch 2 --seq-len 48 --lr 3e-3 "
               "--warmup 2 --threads 1 > " + log + " 2>&1"),
            0)
      << slurp(log);
  const std::string text = slurp(log);
  EXPECT_NE(text.find("acceptance"), std::string::npos) << text;
  // traces.jsonl: every line a verified, well-formed, distinct trace of one of our prompts.
  std::ifstream f(out + "/traces.jsonl");
  std::string line;
  std::vector<std::string> seen;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    const std::string p = j.at("prompt"), c = j.at("completion"), a = j.at("answer");
    const Item* it = std::find_if(std::begin(kItems), std::end(kItems),
                                  [&](const Item& x) { return p == x.prompt; });
    ASSERT_NE(it, std::end(kItems)) << line;
    EXPECT_EQ(a, it->answer);
    const size_t close = c.find("</think>");
    ASSERT_NE(close, std::string::npos) << line;
    EXPECT_EQ(c.rfind("<think>", 0), 0u) << line;
    EXPECT_EQ(c.substr(close + 8), it->answer) << line;
    EXPECT_EQ(std::count(seen.begin(), seen.end(), p + "\n" + c), 0) << "duplicate: " << line;
    seen.push_back(p + "\n" + c);
  }
  EXPECT_GE(seen.size(), 1u);
  auto stats = nlohmann::json::parse(slurp(out + "/distill_stats.json"));
  EXPECT_EQ(stats["samples"], 18);
  EXPECT_EQ(stats["kept"].get<size_t>(), seen.size());
  EXPECT_GE(stats["accepted_before_dedup"].get<size_t>(), seen.size());
  EXPECT_NEAR(stats["acceptance_rate"].get<double>(),
              stats["accepted_before_dedup"].get<double>() / 18.0, 1e-9);
  // The student checkpoint: HF dir with the same tokenizer, loadable by `r1 run`.
  const std::string ck = out + "/student/checkpoint-12";
  ASSERT_TRUE(std::filesystem::exists(ck + "/model.safetensors")) << text;
  EXPECT_TRUE(std::filesystem::exists(ck + "/tokenizer.json"));
  EXPECT_EQ(slurp(out + "/student/metrics.jsonl").empty(), false);
  EXPECT_EQ(sh(r1_bin() + " run " + ck + " -p 'Q:12+34=?A:' -n 8 --threads 1 > " +
               dir_.file("run.log") + " 2>&1"),
            0)
      << slurp(dir_.file("run.log"));
}

TEST_F(DistillCli, DifferentVocabulariesRefused) {
  // A second tokenizer trained on other text: same size, other merges.
  std::ofstream(dir_.file("other.txt")) << "the quick brown fox jumps over the lazy dog again and again";
  std::filesystem::create_directories(dir_.file("tok2"));
  ASSERT_EQ(sh(r1_bin() + " tokenizer train --data " + dir_.file("other.txt") +
               " --vocab-size 290 --special '<bos>,<eos>' --bos '<bos>' --eos '<eos>' --out " +
               dir_.file("tok2/tokenizer.json") + " > /dev/null 2>&1"),
            0);
  const std::string teacher =
      pretrain(dir_.file("teacher.json"), dir_.file("tok/tokenizer.json"), 1, dir_.file("t"));
  const std::string student =
      pretrain(dir_.file("student.json"), dir_.file("tok2/tokenizer.json"), 1, dir_.file("s"));
  EXPECT_EQ(sh(r1_bin() + " distill --teacher " + teacher + " --student " + student + " --data " +
               dir_.file("prompts.jsonl") + " --out " + dir_.file("d") + " 2> " +
               dir_.file("err.txt") + " > /dev/null"),
            2);
  const std::string err = slurp(dir_.file("err.txt"));
  EXPECT_NE(err.find("tokenizers differ"), std::string::npos) << err;
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  // Neither --task nor --data.
  EXPECT_EQ(sh(r1_bin() + " distill --teacher " + teacher + " --student " + teacher + " --out " +
               dir_.file("d") + " 2> /dev/null"),
            2);
}

}  // namespace
