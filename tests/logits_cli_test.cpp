// Integration tests of `r1 logits`, `r1 init-model` and `r1 convert`: the built binary ($R1_BIN)
// against the shared fixtures' reference logits, error handling of bad input, a random model
// converted to GGUF giving the same logits as its safetensors original, and every Qwen3 fixture
// converted to a `qwen3` GGUF giving the reference logits in r1 and the reference greedy tokens in
// llama.cpp (when its oracle is built).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
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
                            std::pair{"llama_bf16", true}, std::pair{"qwen3_f32", false},
                            std::pair{"qwen3_bf16", true}, std::pair{"qwen3_tied_f32", false}}) {
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

// max |got - want| over two equal-shaped .npy files (infinity on a shape mismatch), and max |want|.
std::pair<double, double> npy_diff(const std::string& got_path, const std::string& want_path) {
  auto got = r1::models::read_npy_f32(got_path);
  auto want = r1::models::read_npy_f32(want_path);
  if (!got.ok() || !want.ok() || got->shape != want->shape) return {INFINITY, 0.0};
  double max_diff = 0, max_abs = 0;
  for (size_t i = 0; i < got->data.size(); ++i) {
    max_diff = std::max(max_diff, double(std::fabs(got->data[i] - want->data[i])));
    max_abs = std::max(max_abs, double(std::fabs(want->data[i])));
  }
  return {max_diff, max_abs};
}

// Every fixtures/qwen3* folder (the shared ones and any held-out shape dropped beside them).
std::vector<std::string> qwen3_fixtures() {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e :
       std::filesystem::directory_iterator(r1::test::shared_path("fixtures"), ec))
    if (e.is_directory() && e.path().filename().string().rfind("qwen3", 0) == 0)
      out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

// BF16 weights: the README's 5e-3 * max|logit|; float32: 1e-3.
bool is_bf16_fixture(const std::string& dir) {
  std::ifstream f(dir + "/config.json");
  return nlohmann::json::parse(f).value("torch_dtype", "") == "bfloat16";
}

// `r1 convert` to an F32 `qwen3` GGUF, then `r1 logits` on that file: the fixture's reference
// logits within the README's tolerance.
TEST(LogitsCli, Qwen3ConvertedGgufMatchesReferenceLogits) {
  REQUIRE_BIN_AND_SHARED();
  r1::test::TempDir tmp;
  const auto names = qwen3_fixtures();
  ASSERT_GE(names.size(), 3u) << "qwen3_f32, qwen3_bf16 and qwen3_tied_f32 expected";
  for (const std::string& name : names) {
    const std::string dir = r1::test::shared_path("fixtures/" + name);
    std::ifstream f(dir + "/expected.json");
    const auto prompt = nlohmann::json::parse(f)["prompt"].get<std::vector<int32_t>>();
    const std::string gguf = tmp.file(name + ".gguf"), out = tmp.file(name + ".npy");
    CliRun r = run_r1("convert " + dir + " --out " + gguf + " --type f32", tmp);
    ASSERT_EQ(r.rc, 0) << name << ": " << r.err;
    r = run_r1("logits " + gguf + " --ids " + join(prompt) + " --out " + out + " --threads 2", tmp);
    ASSERT_EQ(r.rc, 0) << name << ": " << r.err;
    const auto [max_diff, max_abs] = npy_diff(out, dir + "/logits.npy");
    std::printf("[ %s -> qwen3 GGUF ] max |logit diff| %.3g (max |logit| %.3g)\n", name.c_str(),
                max_diff, max_abs);
    EXPECT_LE(max_diff, is_bf16_fixture(dir) ? 5e-3 * max_abs : 1e-3) << name;
  }
}

// The llama.cpp oracle (../shared/bench/llamacpp/llama_oracle.c built against the llama.cpp of
// node-llama-cpp) greedy-decodes each Qwen3 fixture converted by `r1 convert` and must produce the
// fixture's 16 greedy tokens: llama.cpp reads our qwen3 GGUF as its own converter's.
TEST(LogitsCli, Qwen3ConvertedGgufGreedyInLlamaCpp) {
  REQUIRE_BIN_AND_SHARED();
  std::string oracle;
  if (const char* e = std::getenv("R1_LLAMA_ORACLE"); e && *e) oracle = e;
  else if (const char* h = std::getenv("HOME"); h && *h)
    oracle = std::string(h) + "/r1-peers/llamacpp/llama_oracle";
  if (oracle.empty() || !std::filesystem::exists(oracle))
    R1_SKIP_NEEDS("oracle", "llama.cpp oracle not found at '" << oracle
                 << "': build it with ../shared/bench/llamacpp/build_oracle.sh (setup in "
                    "../shared/bench/README.md) or point R1_LLAMA_ORACLE at it");
  r1::test::TempDir tmp;
  for (const std::string& name : qwen3_fixtures()) {
    const std::string dir = r1::test::shared_path("fixtures/" + name);
    std::ifstream f(dir + "/expected.json");
    const auto ex = nlohmann::json::parse(f);
    const auto prompt = ex["prompt"].get<std::vector<int32_t>>();
    const auto greedy = ex["greedy"].get<std::vector<int32_t>>();
    const std::string gguf = tmp.file(name + ".gguf");
    CliRun r = run_r1("convert " + dir + " --out " + gguf + " --type f32", tmp);
    ASSERT_EQ(r.rc, 0) << name << ": " << r.err;
    const std::string out_file = tmp.file(name + ".oracle.txt");
    const int rc = r1::test::cli::sh(r1::test::cli::quote(oracle) + " -m " + gguf + " -p " +
                                     join(prompt) + " -n " + std::to_string(greedy.size()) +
                                     " -t 2 --kv f32 > " + out_file + " 2>&1");
    const std::string text = r1::test::cli::slurp(out_file);
    ASSERT_EQ(rc, 0) << name << ": " << text;
    const size_t at = text.find("gen ids: ");
    ASSERT_NE(at, std::string::npos) << text;
    std::vector<int32_t> got;
    std::stringstream ss(text.substr(at + 9, text.find('\n', at) - at - 9));
    for (std::string tok; std::getline(ss, tok, ',');) got.push_back(std::stoi(tok));
    EXPECT_EQ(got, greedy) << name << ": llama.cpp said " << text;
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
  EXPECT_NE(run_r1("convert " + hf + " --out " + gguf + " --type q9_k", tmp).rc, 0);
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
