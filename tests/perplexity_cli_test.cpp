// `r1 perplexity`: the perplexity of stories260K on a text from ../shared against the one computed
// here from llama.cpp's logits (llama_oracle -o) with llama-perplexity's chunking; KL divergence of
// a model against its own saved distributions (0) and of Q8_0 / Q4_0 conversions (positive,
// Q8_0 < Q4_0); every architecture (llama, qwen2, qwen3, deepseek_v3 fixtures) against its
// one-pass logits; and the one-line errors of bad input.
//
// The oracle tests need ~/r1-peers/llamacpp/llama_oracle and llama_quantize (or $R1_LLAMA_ORACLE,
// $R1_LLAMA_QUANTIZE), built by ../shared/bench/llamacpp/build_oracle.sh (../shared/bench/README.md,
// "Setup"); without them they skip with [needs oracle]. The rest needs only ../shared. Each test
// takes about a second.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_util.h"
#include "core/test_util.h"
#include "models/npy.h"

namespace {

using namespace r1::test::cli;
namespace fs = std::filesystem;

std::string env_or(const char* name, const std::string& dflt) {
  const char* v = std::getenv(name);
  return v && *v ? v : dflt;
}
std::string oracle() {
  return env_or("R1_LLAMA_ORACLE", env_or("HOME", "/root") + "/r1-peers/llamacpp/llama_oracle");
}
std::string quantizer() {
  return env_or("R1_LLAMA_QUANTIZE", env_or("HOME", "/root") + "/r1-peers/llamacpp/llama_quantize");
}

#define SKIP_UNLESS_ORACLE()                                                                    \
  do {                                                                                          \
    if (!fs::exists(oracle()) || !fs::exists(quantizer()))                                      \
      R1_SKIP_NEEDS("oracle", "llama.cpp oracle not found (" << oracle() << ", " << quantizer() \
                    << "): build it with ../shared/bench/llamacpp/build_oracle.sh (see "          \
                       "../shared/bench/README.md), or set R1_LLAMA_ORACLE and R1_LLAMA_QUANTIZE"); \
  } while (0)

std::string stories() { return stories_dir() + "/stories260K.gguf"; }
// The text: 5 KB of English prose (3528 stories260K tokens with BOS).
std::string text_file() { return shared_root() + "/DESIGN.md"; }

nlohmann::json json_of(const CliRun& r) {
  try {
    return nlohmann::json::parse(r.out);
  } catch (const std::exception& e) {
    ADD_FAILURE() << "stdout is not JSON: " << e.what() << "\n" << r.out << r.err;
    return {};
  }
}

// `r1 tokenize MODEL --add-bos --no-parse-special` of a file: the ids llama-perplexity's
// common_tokenize(ctx, text, add_special = true, parse_special = false) gives.
std::vector<int32_t> tokenize(const std::string& model, const std::string& file) {
  const std::string line = nlohmann::json(slurp(file)).dump() + "\n";
  CliRun r = run_r1({"tokenize", model, "--add-bos", "--no-parse-special"}, &line);
  EXPECT_EQ(r.rc, 0) << r.err;
  return r.rc == 0 ? nlohmann::json::parse(r.out).get<std::vector<int32_t>>()
                   : std::vector<int32_t>{};
}

// -log softmax(row)[target] in double.
double nll_of(const float* row, int64_t V, int32_t target) {
  double m = row[0];
  for (int64_t i = 1; i < V; ++i) m = std::max(m, double(row[i]));
  double s = 0;
  for (int64_t i = 0; i < V; ++i) s += std::exp(double(row[i]) - m);
  return m + std::log(s) - double(row[target]);
}

// llama-perplexity's score of one chunk from its logits [n_ctx, V]: positions n_ctx/2 .. n_ctx-2
// predict the next token. Adds to *sum and *count.
void score_chunk(const std::vector<float>& logits, const std::vector<int32_t>& chunk, int64_t V,
                 double* sum, int64_t* count) {
  const int64_t n_ctx = int64_t(chunk.size());
  ASSERT_EQ(int64_t(logits.size()), n_ctx * V);
  for (int64_t j = n_ctx / 2; j <= n_ctx - 2; ++j) {
    *sum += nll_of(logits.data() + j * V, V, chunk[size_t(j + 1)]);
    ++*count;
  }
}

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t i : ids) s += (s.empty() ? "" : ",") + std::to_string(i);
  return s;
}

std::vector<float> read_f32(const std::string& path) {
  const std::string b = slurp(path);
  std::vector<float> v(b.size() / 4);
  std::memcpy(v.data(), b.data(), v.size() * 4);
  return v;
}

TEST(PerplexityCli, MatchesLlamaCppLogitsOnStories260K) {
  R1_REQUIRE_BIN();
  R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  SKIP_UNLESS_ORACLE();
  constexpr int64_t kCtx = 128, kChunks = 8;
  CliRun r = run_r1({"perplexity", stories(), "--data", text_file(), "--ctx", std::to_string(kCtx),
                     "--chunks", std::to_string(kChunks), "--json"});
  ASSERT_EQ(r.rc, 0) << r.err;
  const double ppl = json_of(r)["ppl"]["mean"].get<double>();

  // The reference: llama.cpp's logits (F32 KV cache) of each chunk, BOS first, scored here.
  const std::vector<int32_t> ids = tokenize(stories(), text_file());
  ASSERT_GE(int64_t(ids.size()), kChunks * kCtx);
  ASSERT_EQ(ids[0], 1) << "stories260K's BOS";
  r1::test::TempDir tmp;
  double sum = 0;
  int64_t count = 0;
  for (int64_t c = 0; c < kChunks; ++c) {
    std::vector<int32_t> chunk(ids.begin() + c * kCtx, ids.begin() + (c + 1) * kCtx);
    chunk[0] = ids[0];
    const std::string lf = tmp.file("chunk.f32");
    ASSERT_EQ(sh(quote(oracle()) + " -m " + quote(stories()) + " -p " + join(chunk) +
                 " -n 1 -t 1 --kv f32 -o " + quote(lf) + " >/dev/null 2>&1"),
              0);
    score_chunk(read_f32(lf), chunk, 512, &sum, &count);
  }
  ASSERT_EQ(count, kChunks * (kCtx / 2 - 1));
  const double want = std::exp(sum / double(count));
  std::printf("[ stats ] stories260K, %lld chunks of %lld: r1 PPL %.6f, from llama.cpp's logits "
              "%.6f (rel. diff %.2e)\n",
              (long long)kChunks, (long long)kCtx, ppl, want, std::fabs(ppl / want - 1));
  EXPECT_NEAR(ppl / want, 1.0, 1e-3);
}

// r1's trained byte-level tokenizer with exactly 256 tokens (no merges, no specials), which fits
// the 256-row vocabularies of the random fixtures and init-model's tiny presets.
class PerplexityTiny : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new r1::test::TempDir;
    ok_ = sh(quote(r1_bin()) + " tokenizer train --data " + quote(text_file()) +
             " --vocab-size 256 --out " + quote(dir_->file("tok/tokenizer.json")) +
             " >/dev/null 2>&1") == 0;
  }
  static void TearDownTestSuite() { delete dir_; }
  void SetUp() override {
    R1_REQUIRE_BIN();
    R1_SKIP_UNLESS_SHARED("fixtures");
    ASSERT_TRUE(ok_) << "r1 tokenizer train failed";
  }
  // A model folder: the fixture's config and weights with the 256-token tokenizer.
  static std::string fixture_with_tokenizer(const std::string& name) {
    const std::string d = dir_->file(name);
    fs::create_directories(d);
    const std::string src = shared_root() + "/fixtures/" + name;
    for (const char* f : {"config.json", "model.safetensors"})
      if (!fs::exists(d + "/" + f)) fs::create_symlink(src + "/" + f, d + "/" + f);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      if (!fs::exists(d + "/" + f)) fs::copy_file(dir_->file("tok/") + f, d + "/" + f);
    return d;
  }
  static r1::test::TempDir* dir_;
  static bool ok_;
};
r1::test::TempDir* PerplexityTiny::dir_ = nullptr;
bool PerplexityTiny::ok_ = false;

TEST(PerplexityCli, KlDivergenceAgainstItsOwnLogitsIsZero) {
  R1_REQUIRE_BIN();
  R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  r1::test::TempDir tmp;
  const std::string base = tmp.file("base.lp");
  CliRun plain = run_r1({"perplexity", stories(), "--data", text_file(), "--ctx", "128", "--json"});
  ASSERT_EQ(plain.rc, 0) << plain.err;
  CliRun save = run_r1({"perplexity", stories(), "--data", text_file(), "--ctx", "128",
                        "--save-logits", base, "--json"});
  ASSERT_EQ(save.rc, 0) << save.err;
  const nlohmann::json p = json_of(plain), s = json_of(save);
  EXPECT_EQ(p["ppl"], s["ppl"]);  // saving changes nothing
  const int64_t chunks = p["n_chunk"].get<int64_t>();
  EXPECT_EQ(chunks, 3528 / 128);
  // 64-byte header, the tokens, and 63 rows of 12 + 2 * 512 bytes per chunk.
  EXPECT_EQ(int64_t(fs::file_size(base)), 64 + 4 * chunks * 128 + chunks * 63 * (12 + 2 * 512));
  // The progress lines: one per chunk with the running PPL and its uncertainty.
  EXPECT_NE(plain.err.find("[27/27] PPL = "), std::string::npos) << plain.err;
  EXPECT_NE(plain.err.find(" ± "), std::string::npos) << plain.err;

  for (bool with_data : {false, true}) {
    std::vector<std::string> args = {"perplexity", stories(), "--kl-divergence-base", base, "--json"};
    if (with_data) args.insert(args.end(), {"--data", text_file()});
    CliRun k = run_r1(args);
    ASSERT_EQ(k.rc, 0) << k.err;
    const nlohmann::json j = json_of(k);
    std::printf("[ stats ] self KLD %.3g, same top %.6f\n", j["kld"]["mean"].get<double>(),
                j["same_top"]["mean"].get<double>());
    // Only the storage remains: rounding log p to steps of s = 20/65534 nats (KL ~ s^2/24 =
    // 4e-9) and dropping the tokens 20 nats below the top (at most V e^-20 = 1.1e-6 of the mass).
    EXPECT_LT(j["kld"]["mean"].get<double>(), 3 * 20.0 * 20.0 / 65534 / 65534 / 24 + 512 * std::exp(-20.0));
    EXPECT_EQ(j["same_top"]["mean"].get<double>(), 1.0);
    EXPECT_NEAR(j["ppl"]["mean"].get<double>() / p["ppl"]["mean"].get<double>(), 1.0, 1e-12);
    EXPECT_NEAR(j["ppl_base"]["mean"].get<double>() / p["ppl"]["mean"].get<double>(), 1.0, 1e-6);
    EXPECT_NEAR(j["p_diff_rms"]["mean"].get<double>(), 0.0, 1e-6);
  }
  // The human summary carries llama-perplexity's labels.
  CliRun h = run_r1({"perplexity", stories(), "--kl-divergence-base", base});
  ASSERT_EQ(h.rc, 0) << h.err;
  for (const char* label : {"Mean PPL(Q)", "Mean PPL(base)", "Mean    KLD:   0.000000",
                            "99.0%   KLD", "Median  Δp", "RMS Δp", "Same top p: 100.000"})
    EXPECT_NE(h.out.find(label), std::string::npos) << label << "\n" << h.out;
}

TEST_F(PerplexityTiny, KlDivergenceOfQ8_0IsSmallerThanOfQ4_0) {
  // A random llama-tiny model converted by r1 to f16 (the base), q8_0 and q4_0.
  const std::string hf = dir_->file("llama-tiny");
  ASSERT_EQ(sh(quote(r1_bin()) + " init-model --preset llama-tiny --seed 3 --out " + quote(hf) +
               " --tokenizer " + quote(dir_->file("tok")) + " >/dev/null 2>&1"),
            0);
  for (const char* t : {"f16", "q8_0", "q4_0"})
    ASSERT_EQ(sh(quote(r1_bin()) + " convert " + quote(hf) + " --type " + t + " --out " +
                 quote(dir_->file(std::string("tiny-") + t + ".gguf")) + " >/dev/null 2>&1"),
              0);
  const std::string base = dir_->file("tiny-f16.lp");
  CliRun s = run_r1({"perplexity", dir_->file("tiny-f16.gguf"), "--data", text_file(), "--ctx",
                     "128", "--save-logits", base});
  ASSERT_EQ(s.rc, 0) << s.err;
  double kld[2], same[2];
  for (int i = 0; i < 2; ++i) {
    const std::string m = dir_->file(i == 0 ? "tiny-q8_0.gguf" : "tiny-q4_0.gguf");
    CliRun k = run_r1({"perplexity", m, "--kl-divergence-base", base, "--json"});
    ASSERT_EQ(k.rc, 0) << k.err;
    const nlohmann::json j = json_of(k);
    kld[i] = j["kld"]["mean"].get<double>();
    same[i] = j["same_top"]["mean"].get<double>();
    std::printf("[ stats ] %s vs f16: KLD %.3g ± %.2g, same top %.4f\n", i ? "q4_0" : "q8_0", kld[i],
                j["kld"]["uncertainty"].get<double>(), same[i]);
  }
  // Random N(0, 0.02) weights give near-uniform distributions, so the values are small (q8_0
  // ~1.5e-6, q4_0 ~2.4e-4), yet far above the storage's 4e-9.
  EXPECT_GT(kld[0], 1e-7);
  EXPECT_GT(kld[1], 10 * kld[0]);
  EXPECT_GE(same[0], same[1]);
}

TEST(PerplexityCli, KlDivergenceOfLlamaQuantizedStories260K) {
  R1_REQUIRE_BIN();
  R1_SKIP_UNLESS_SHARED("models/stories260K/stories260K.gguf");
  SKIP_UNLESS_ORACLE();
  r1::test::TempDir tmp;
  const std::string base = tmp.file("base.lp");
  ASSERT_EQ(run_r1({"perplexity", stories(), "--data", text_file(), "--ctx", "128",
                    "--save-logits", base}).rc, 0);
  double kld[2];
  for (int i = 0; i < 2; ++i) {
    const std::string type = i ? "Q4_0" : "Q8_0", q = tmp.file(type + ".gguf");
    ASSERT_EQ(sh(quote(quantizer()) + " " + quote(stories()) + " " + quote(q) + " " + type +
                 " --pure -t 1 >/dev/null 2>&1"),
              0);
    CliRun k = run_r1({"perplexity", q, "--kl-divergence-base", base, "--json"});
    ASSERT_EQ(k.rc, 0) << k.err;
    const nlohmann::json j = json_of(k);
    kld[i] = j["kld"]["mean"].get<double>();
    std::printf("[ stats ] stories260K %s (llama_quantize --pure) vs F32: KLD %.4g, PPL %.3f vs "
                "%.3f, same top %.4f\n",
                type.c_str(), kld[i], j["ppl"]["mean"].get<double>(),
                j["ppl_base"]["mean"].get<double>(), j["same_top"]["mean"].get<double>());
  }
  EXPECT_GT(kld[0], 1e-5);
  EXPECT_GT(kld[1], 10 * kld[0]);
}

TEST_F(PerplexityTiny, EveryArchitectureMatchesItsOnePassLogits) {
  // --batch 5 runs each chunk in pieces of 5, 5, 5, 1 (no logits) then 5, 5, 5, 1 against the
  // KV cache; the reference is one `r1 logits` pass per chunk, scored here.
  constexpr int64_t kCtx = 32, kChunks = 2;
  for (const char* name : {"llama_f32", "qwen2_f32", "qwen3_f32", "ds_qlora_f32"}) {
    const std::string model = fixture_with_tokenizer(name);
    CliRun r = run_r1({"perplexity", model, "--data", text_file(), "--ctx", std::to_string(kCtx),
                       "--chunks", std::to_string(kChunks), "--batch", "5", "--json"});
    ASSERT_EQ(r.rc, 0) << name << ": " << r.err;
    const double ppl = json_of(r)["ppl"]["mean"].get<double>();
    const std::vector<int32_t> ids = tokenize(model, text_file());
    ASSERT_GE(int64_t(ids.size()), kChunks * kCtx);
    double sum = 0;
    int64_t count = 0;
    r1::test::TempDir tmp;
    for (int64_t c = 0; c < kChunks; ++c) {
      // No BOS: the trained tokenizer has none, so the chunks are the text's tokens as they are.
      const std::vector<int32_t> chunk(ids.begin() + c * kCtx, ids.begin() + (c + 1) * kCtx);
      CliRun l = run_r1({"logits", model, "--ids", join(chunk), "--out", tmp.file("l.npy")});
      ASSERT_EQ(l.rc, 0) << l.err;
      auto a = r1::models::read_npy_f32(tmp.file("l.npy"));
      ASSERT_TRUE(a.ok()) << a.message();
      score_chunk(a->data, chunk, 256, &sum, &count);
    }
    const double want = std::exp(sum / double(count));
    std::printf("[ stats ] %s: PPL %.6f, from one-pass logits %.6f\n", name, ppl, want);
    EXPECT_NEAR(ppl / want, 1.0, 1e-4) << name;
  }
}

// One line on stderr naming the problem, and a non-zero exit.
void expect_one_line_error(const CliRun& r, const std::string& what) {
  EXPECT_NE(r.rc, 0) << r.out;
  EXPECT_NE(r.err.find(what), std::string::npos) << "want '" << what << "' in: " << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(r.err.rfind("r1 perplexity: ", 0), 0u) << r.err;
}

TEST_F(PerplexityTiny, BadInputGivesOneClearLine) {
  ASSERT_TRUE(fs::exists(stories()));
  const std::string st = stories(), text = text_file();
  r1::test::TempDir tmp;
  expect_one_line_error(run_r1({"perplexity", st, "--data", tmp.file("missing.txt")}),
                        "no such file");
  std::ofstream(tmp.file("short.txt")) << "Once upon a time there was a cat.";
  expect_one_line_error(run_r1({"perplexity", st, "--data", tmp.file("short.txt"), "--ctx", "128"}),
                        "fewer than one chunk of --ctx 128");
  expect_one_line_error(run_r1({"perplexity", st, "--data", text, "--ctx", "4096"}),
                        "larger than the model's context length 2048");
  expect_one_line_error(run_r1({"perplexity", st, "--data", text, "--ctx", "2"}), "--ctx");
  expect_one_line_error(run_r1({"perplexity", st}), "--data is required");
  expect_one_line_error(run_r1({"perplexity", st, "--data", text, "--save-logits", "a",
                                "--kl-divergence-base", "b"}),
                        "excludes");
  expect_one_line_error(run_r1({"perplexity", st, "--data", text, "--ctx", "128", "--save-logits",
                                tmp.file("no/such/dir/base.lp")}),
                        "cannot create");

  // Base files: from another text, another model, cut short, not one at all.
  const std::string base = tmp.file("base.lp");
  ASSERT_EQ(run_r1({"perplexity", st, "--data", text, "--ctx", "64", "--save-logits", base}).rc, 0);
  expect_one_line_error(run_r1({"perplexity", st, "--kl-divergence-base", base, "--data",
                                shared_root() + "/STYLE.md"}),
                        "another text");
  expect_one_line_error(run_r1({"perplexity", st, "--kl-divergence-base", base, "--ctx", "128"}),
                        "differs from the base file's 64");
  const std::string tiny = fixture_with_tokenizer("llama_f32");
  expect_one_line_error(run_r1({"perplexity", tiny, "--kl-divergence-base", base}),
                        "saved with a vocabulary of 512, this model has 256");
  const std::string bytes = slurp(base);
  r1::test::write_bytes(tmp.file("cut.lp"), bytes.substr(0, bytes.size() / 2));
  expect_one_line_error(run_r1({"perplexity", st, "--kl-divergence-base", tmp.file("cut.lp")}),
                        "truncated");
  expect_one_line_error(run_r1({"perplexity", st, "--kl-divergence-base", st}),
                        "not a base-logits file");
}

}  // namespace
