// Integration test of `r1 zero --quick`: the whole toy R1 pipeline runs end to end as child
// processes of the built binary, every stage leaves its outputs (done-marker, model directory,
// evaluation results), results.json holds the table, and a rerun resumes (skips every stage).
// Every subcommand is in this build, so no stage may report itself "unavailable" (skipped): a
// skipped r1-zero or student stage would leave the pipeline's point untested.
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
