// Integration test of `r1 zero --quick`: the whole toy R1 pipeline runs end to end as child
// processes of the built binary, every stage leaves its outputs (done-marker, model directory,
// evaluation results), results.json holds the table, and a rerun resumes (skips every stage).
// Every subcommand is in this build, so no stage may report itself "unavailable" (skipped): a
// skipped r1-zero or student stage would leave the pipeline's point untested. The models it writes
// carry the task's chat template, so `r1 chat` and `r1 template` work on them (checked on the same
// run: the quick pipeline takes minutes, and each TEST is its own process under ctest).
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

namespace fs = std::filesystem;

// `r1 chat` on the models `r1 zero` wrote (issue 20): they carry a chat template that puts the
// user's text into the task's prompt form (R1ZERO-TOY.md: `Q:347+589=?A:`), and a reply shows
// the reasoning dimmed and the answer plain.
void check_chat(const std::string& out, const r1::test::TempDir& dir) {
  SCOPED_TRACE("chat on the models r1 zero wrote");
  const std::string r1_zero = out + "/models/r1-zero";
  for (const char* m : {"base", "r1-zero"}) {
    const auto cfg = nlohmann::json::parse(slurp(out + "/models/" + m + "/tokenizer_config.json"));
    EXPECT_TRUE(cfg.contains("chat_template") && cfg["chat_template"].is_string()) << m;
  }
  // The template renders the task's prompt form, whatever wrapping the user typed, and drops
  // earlier turns (the task is single-turn) and their reasoning.
  const std::string req =
      R"({"messages": [{"role": "user", "content": "47+38"}], "add_generation_prompt": true})" "\n"
      R"({"messages": [{"role": "user", "content": " Q:47+38=?A: "}], "add_generation_prompt": true})" "\n"
      R"({"messages": [{"role": "user", "content": "47+38=?"}], "add_generation_prompt": true})" "\n"
      R"({"messages": [{"role": "user", "content": "1+2"}, {"role": "assistant", "content": "<think>1+2=3</think>3"},)"
      R"( {"role": "user", "content": "47+38"}], "add_generation_prompt": true})" "\n"
      R"({"messages": [{"role": "user", "content": "47+38"}, {"role": "assistant", "content": "<think>x</think>85"}]})" "\n";
  const CliRun t = run_r1({"template", r1_zero}, &req);
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_EQ(t.out,
            "\"Q:47+38=?A:\"\n\"Q:47+38=?A:\"\n\"Q:47+38=?A:\"\n\"Q:47+38=?A:\"\n\"Q:47+38=?A:85<|eos|>\"\n");

  // The quick model is barely trained: chat must run (no "no chat_template"), not answer well.
  const std::string line = "47+38\n";
  const CliRun c0 = run_r1({"chat", r1_zero, "-n", "8", "--seed", "1", "-t", "2"}, &line);
  EXPECT_EQ(c0.rc, 0) << c0.err;
  EXPECT_EQ(c0.err.find("chat_template"), std::string::npos) << c0.err;

  // A model that answers for sure: the base fine-tuned on four raw task-form pairs (`r1 sft
  // --raw`, so the training text is the task's form, not the template's output). It inherits the
  // template; its replies differ per prompt, so the right reply shows the template built the
  // right prompt.
  const std::string data = dir.file("pairs.jsonl");
  {
    std::ofstream f(data);
    for (int rep = 0; rep < 8; ++rep) {
      f << R"({"prompt": "Q:47+38=?A:", "completion": "<think>7+8=15 4+3+1=8</think>85"})" "\n";
      f << R"({"prompt": "Q:38+47=?A:", "completion": "<think>8+7=15 3+4+1=8</think>85"})" "\n";
      f << R"({"prompt": "Q:47-38=?A:", "completion": "<think>17-8=9 3-3=0</think>9"})" "\n";
      f << R"({"prompt": "Q:12+34=?A:", "completion": "<think>2+4=6 1+3=4</think>46"})" "\n";
    }
  }
  const std::string sft = dir.file("sft");
  const std::string log = dir.file("sft.log");
  ASSERT_EQ(sh(r1_bin() + " sft --model " + out + "/models/base --data " + data + " --raw --out " + sft +
               " --steps 200 --lr 1e-2 --min-lr 1e-3 --warmup 5 --batch 4 --seq-len 64 --save-every 200 -q -t 2 > " +
               log + " 2>&1"),
            0)
      << slurp(log);
  const std::string model = sft + "/checkpoint-200";
  ASSERT_TRUE(fs::exists(model + "/tokenizer_config.json")) << slurp(log);

  // Piped, two problems (an interactive session reads the same lines); --color always dims the
  // reasoning with ANSI SGR 2 as on a terminal.
  const std::string two = "47+38\n12+34\n";
  const CliRun c = run_r1({"chat", model, "--color", "always", "--temp", "0", "-n", "40", "-t", "2"}, &two);
  ASSERT_EQ(c.rc, 0) << c.err;
  EXPECT_EQ(c.out, "\x1b[2m7+8=15 4+3+1=8\x1b[0m\n\n85\n\x1b[2m2+4=6 1+3=4\x1b[0m\n\n46\n") << c.err;
  // Without colour the think block is shown between tags.
  const CliRun plain = run_r1({"chat", model, "--color", "never", "--temp", "0", "-n", "40", "-t", "2"}, &line);
  ASSERT_EQ(plain.rc, 0) << plain.err;
  EXPECT_EQ(plain.out, "<think>\n7+8=15 4+3+1=8\n</think>\n\n85\n") << plain.err;
}

TEST(ZeroCli, QuickProfileRunsEveryStageAndResumes) {
  R1_REQUIRE_BIN();
  r1::test::TempDir dir;
  const std::string out = dir.file("zero");
  const std::string log = dir.file("log.txt");
  ASSERT_EQ(sh(r1_bin() + " zero --quick -t 2 --out " + out + " > " + log + " 2>&1"), 0) << slurp(log);

  // The table: results.json with every model row and the stage times.
  const std::string res_path = out + "/results.json";
  ASSERT_TRUE(fs::exists(res_path)) << slurp(log);
  const auto res = nlohmann::json::parse(slurp(res_path));
  EXPECT_EQ(res["profile"], "quick");
  ASSERT_TRUE(res["models"].is_object());
  for (const char* m : {"base", "base-more", "r1-zero", "student-base", "student-grpo", "student"})
    EXPECT_TRUE(res["models"].contains(m)) << m;
  ASSERT_TRUE(res["stages"].is_array());
  const std::string text = slurp(log);
  for (const auto& s : res["stages"]) {
    const std::string id = s["stage"], status = s["status"];
    SCOPED_TRACE(id);
    EXPECT_EQ(status, "done") << s.dump() << "\n" << text;
    EXPECT_TRUE(fs::exists(out + "/.done/" + id + ".json"));
    if (id == "corpus") {
      EXPECT_GT(fs::file_size(out + "/data/corpus.jsonl"), 1000u);
    }
    if (id == "tokenizer") {
      EXPECT_TRUE(fs::exists(out + "/tokenizer/tokenizer.json"));
    }
    for (const char* m : {"base", "base-more", "r1-zero", "student-base", "student-grpo", "student"}) {
      if (id == m) {
        EXPECT_TRUE(fs::exists(out + "/models/" + id + "/config.json"));
        EXPECT_TRUE(fs::exists(out + "/models/" + id + "/model.safetensors"));
        EXPECT_TRUE(fs::exists(out + "/models/" + id + "/tokenizer.json"));
      }
    }
    if (id.rfind("eval-", 0) == 0) {
      const std::string m = id.substr(5);
      const auto r = nlohmann::json::parse(slurp(out + "/eval/" + m + "/results.json"));
      EXPECT_TRUE(r.contains("pass@1") && r.contains("cons@k") && r.contains("mean_completion_tokens"));
      EXPECT_TRUE(res["models"][m].contains("pass@1"));
    }
    if (id.rfind("gguf-", 0) == 0) {
      EXPECT_TRUE(fs::exists(out + "/gguf/" + id.substr(5) + ".gguf"));
    }
  }
  // Every stage of the pipeline ran (a stage missing from the list would pass the loop above).
  std::vector<std::string> ids;
  for (const auto& s : res["stages"]) ids.push_back(s["stage"]);
  for (const char* m : {"corpus", "tokenizer", "base", "base-more", "r1-zero", "student-base", "student-grpo", "student"})
    EXPECT_NE(std::find(ids.begin(), ids.end(), m), ids.end()) << m;
  EXPECT_NE(text.find("pass@1"), std::string::npos) << "no table printed";
  check_chat(out, dir);

  // A rerun resumes: every finished stage is skipped, and the table is written again.
  ASSERT_EQ(sh(r1_bin() + " zero --quick -t 2 --out " + out + " > " + log + " 2>&1"), 0) << slurp(log);
  const auto res2 = nlohmann::json::parse(slurp(res_path));
  for (const auto& s : res2["stages"]) EXPECT_NE(s["status"], "done") << s.dump();

  // Another profile in the same folder is refused (model sizes would mix).
  EXPECT_EQ(sh(r1_bin() + " zero --out " + out + " > " + log + " 2>&1"), 2);
}

TEST(ZeroCli, BadOutIsOneLineError) {
  R1_REQUIRE_BIN();
  r1::test::TempDir dir;
  std::ofstream(dir.file("file")) << "x";
  EXPECT_NE(sh(r1_bin() + " zero --quick --out " + dir.file("file") + "/sub 2>/dev/null"), 0);
}

}  // namespace
