// Integration tests of `r1 logits`, `r1 init-model` and `r1 convert`: the built binary ($R1_BIN)
// against the shared fixtures' reference logits, error handling of bad input, and a random model
// converted to GGUF giving the same logits as its safetensors original.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "core/test_util.h"
#include "models/npy.h"

namespace {

using r1::test::cli::r1_bin;

struct CliRun {
  int rc = -1;
  std::string err;  // stderr
};

// Runs `r1 ARGS`, capturing stderr through a temporary file.
CliRun run_r1(const std::string& args, const r1::test::TempDir& tmp) {
  const std::string err_file = tmp.file("stderr.txt");
  const std::string cmd = r1_bin() + " " + args + " 2>" + err_file + " >/dev/null";
  CliRun r;
  r.rc = r1::test::cli::sh(cmd);
  r.err = r1::test::cli::slurp(err_file);
  return r;
}

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ',';  // not `(i ? "," : "") + ...`: GCC 12 raises a false -Wrestrict there
    s += std::to_string(ids[i]);
  }
  return s;
}

#define REQUIRE_BIN_AND_SHARED()                                                  \
  R1_REQUIRE_BIN();                                                               \
  R1_SKIP_UNLESS_SHARED("")

TEST(LogitsCli, FixturesMatchReferenceLogits) {
  REQUIRE_BIN_AND_SHARED();
  r1::test::TempDir tmp;
  for (auto [name, bf16] : {std::pair{"qwen2_f32", false}, std::pair{"qwen2_bf16", true},
                            std::pair{"qwen2_tied_f32", false}, std::pair{"llama_f32", false},
                            std::pair{"llama_bf16", true}}) {
    const std::string dir = r1::test::shared_path(std::string("fixtures/") + name);
    std::ifstream f(dir + "/expected.json");
    const auto prompt = nlohmann::json::parse(f)["prompt"].get<std::vector<int32_t>>();
    const std::string out = tmp.file(std::string(name) + ".npy");
    const CliRun r = run_r1("logits " + dir + " --ids " + join(prompt) + " --out " + out +
                             " --threads 2", tmp);
    ASSERT_EQ(r.rc, 0) << r.err;
    auto got = r1::models::read_npy_f32(out);
    auto want = r1::models::read_npy_f32(dir + "/logits.npy");
    ASSERT_TRUE(got.ok()) << got.message();
    ASSERT_TRUE(want.ok()) << want.message();
    ASSERT_EQ(got->shape, want->shape);
    double max_diff = 0, max_abs = 0;
    for (size_t i = 0; i < got->data.size(); ++i) {
      max_diff = std::max(max_diff, double(std::fabs(got->data[i] - want->data[i])));
      max_abs = std::max(max_abs, double(std::fabs(want->data[i])));
    }
    EXPECT_LE(max_diff, bf16 ? 5e-3 * max_abs : 1e-3) << name;
  }
}

TEST(LogitsCli, BadInputGivesOneLineErrors) {
  REQUIRE_BIN_AND_SHARED();
  r1::test::TempDir tmp;
  const std::string dir = r1::test::shared_path("fixtures/qwen2_f32");
  const std::string out = tmp.file("x.npy");
  for (const std::string& args :
       {"logits " + dir + " --ids 1,256 --out " + out,    // out of range (vocab 256)
        "logits " + dir + " --ids '' --out " + out,       // empty
        "logits " + dir + " --ids 1,x --out " + out,      // not an id
        "logits " + dir + " --ids -1 --out " + out,       // negative
        "logits /nonexistent/model --ids 1 --out " + out,  // bad model
        "logits " + dir + " --out " + out,                 // --ids missing
        "logits " + dir + " --ids 1 --out /nonexistent/dir/x.npy"}) {
    const CliRun r = run_r1(args, tmp);
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_NE(r.rc, -1) << args << ": crashed";
    ASSERT_FALSE(r.err.empty()) << args;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << args << ": " << r.err;
  }
  EXPECT_FALSE(std::ifstream(out).good()) << "no output file after a failure";
}

TEST(LogitsCli, InitModelThenConvertGivesSameLogits) {
  R1_REQUIRE_BIN();
  r1::test::TempDir tmp;
  const std::string hf = tmp.file("llama-tiny");
  CliRun r = run_r1("init-model --preset llama-tiny --out " + hf + " --seed 3", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string gguf = tmp.file("llama-tiny.gguf");
  r = run_r1("convert " + hf + " --out " + gguf + " --type f32", tmp);
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string ids = "0,17,99,3,250,42";
  ASSERT_EQ(run_r1("logits " + hf + " --ids " + ids + " --out " + tmp.file("a.npy"), tmp).rc, 0);
  ASSERT_EQ(run_r1("logits " + gguf + " --ids " + ids + " --out " + tmp.file("b.npy"), tmp).rc, 0);
  auto a = r1::models::read_npy_f32(tmp.file("a.npy"));
  auto b = r1::models::read_npy_f32(tmp.file("b.npy"));
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->shape, (std::vector<int64_t>{6, 256}));
  ASSERT_EQ(a->shape, b->shape);
  for (size_t i = 0; i < a->data.size(); ++i) ASSERT_NEAR(a->data[i], b->data[i], 1e-4) << i;

  EXPECT_EQ(run_r1("init-model --preset nope --out " + tmp.file("n"), tmp).rc, 2);
  EXPECT_NE(run_r1("convert " + hf + " --out " + gguf + " --type q2_k", tmp).rc, 0);
  EXPECT_NE(run_r1("convert /nonexistent --out " + gguf, tmp).rc, 0);
}

}  // namespace

namespace {

TEST(LogitsCli, InitModelRejectsATokenizerLargerThanTheVocabulary) {
  R1_REQUIRE_BIN();
  R1_SKIP_UNLESS_SHARED("");
  r1::test::TempDir tmp;
  const std::string out = tmp.file("tiny");
  // 151,665 tokens against qwen2-tiny's 256-row embedding: refused before anything is written.
  CliRun r = run_r1("init-model --preset qwen2-tiny --out " + out + " --tokenizer " +
                        r1::test::shared_dir() + "/tokenizers/r1_distill_qwen",
                    tmp);
  EXPECT_EQ(r.rc, 2) << r.err;
  EXPECT_NE(r.err.find("vocab_size 256"), std::string::npos) << r.err;
  EXPECT_FALSE(std::ifstream(out + "/config.json").good());
}

}  // namespace
