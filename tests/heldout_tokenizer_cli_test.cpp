// Held-out checks of `r1 tokenize` and `r1 template` through the CLI contracts of issue 4, on cases
// that do NOT come from ../shared's samples:
//  - tests/data/heldout_tokenize.jsonl: {text, ids: {tokenizer: [...]}, decoded?: {tokenizer: str}}.
//    Expected ids/decoded were generated outside the repo by npm @huggingface/tokenizers 0.2.0
//    (Hugging Face's JavaScript port, which follows the Rust library's Oniguruma semantics:
//    \s = White_Space) from ../shared/tokenizers/*/tokenizer.json, encode(add_special_tokens=false)
//    and decode(skip_special_tokens=false, clean_up_tokenization_spaces=false). `decoded` is given
//    only where it differs from `text` (NFC for the Qwen vocabularies). The texts cover CJK, Arabic,
//    Hebrew, Devanagari, Thai, emoji ZWJ sequences and skin tones, combining marks, long digit runs,
//    code, whitespace runs/tabs/CRLF, embedded special tokens, NEL/BOM, Unicode 15+ code points.
//  - tests/data/heldout_template.jsonl: {request, rendered: {template: str|null}}. Expected renders
//    were generated outside the repo by Python Jinja2 3.1.6 set up as transformers'
//    apply_chat_template (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols,
//    transformers' tojson, raise_exception; tools/documents None; DeepSeek bos/eos for the .jinja
//    files holding "｜") from ../shared/tokenizers/templates/*.jinja; null = Jinja2 raised. They agree
//    with npm @huggingface/jinja 0.5.11 except one request where JavaScript concatenates a dict
//    into a string and Jinja2 raises (a TypeError): we follow Jinja2.
#include <gtest/gtest.h>

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

using json = nlohmann::ordered_json;

// Splits on '\n' only (JSON output may hold U+2028 and other line separators).
std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> v;
  size_t start = 0;
  while (start < s.size()) {
    size_t nl = s.find('\n', start);
    if (nl == std::string::npos) nl = s.size();
    v.push_back(s.substr(start, nl - start));
    start = nl + 1;
  }
  return v;
}

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> v;
  for (const std::string& l : lines(slurp(path))) {
    if (!l.empty()) v.push_back(json::parse(l));
  }
  return v;
}

#define SKIP_UNLESS_READY()                                                                          \
  do {                                                                                               \
    R1_REQUIRE_BIN();                                                                                \
    R1_SKIP_UNLESS_SHARED("");                                                                       \
  } while (0)

// Tokenizer name and the PATH form the CLI is given (a tokenizer.json or a model directory).
struct TokCase {
  const char* name;
  const char* path;
};

class HeldoutTokenize : public ::testing::TestWithParam<TokCase> {};

TEST_P(HeldoutTokenize, IdsAndDecodeMatchReference) {
  SKIP_UNLESS_READY();
  const TokCase tc = GetParam();
  const std::vector<json> rows = read_jsonl(source_dir() + "/tests/data/heldout_tokenize.jsonl");
  ASSERT_GT(rows.size(), 150u);
  std::string texts, id_lines;
  for (const json& r : rows) {
    texts += r["text"].dump() + "\n";
    id_lines += r["ids"][tc.name].dump() + "\n";
  }
  r1::test::TempDir dir;
  const std::string path = quote(shared_root() + "/" + tc.path);
  const CliRun enc = run_r1("tokenize " + path + " --ids", texts, dir);
  ASSERT_EQ(enc.rc, 0) << enc.err;
  const auto got = lines(enc.out);
  ASSERT_EQ(got.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(nlohmann::json::parse(got[i]), rows[i]["ids"][tc.name]) << "text " << rows[i]["text"].dump();
  }
  const CliRun dec = run_r1("tokenize " + path + " --decode", id_lines, dir);
  ASSERT_EQ(dec.rc, 0) << dec.err;
  const auto back = lines(dec.out);
  ASSERT_EQ(back.size(), rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& r = rows[i];
    const json want = r.contains("decoded") && r["decoded"].contains(tc.name) ? r["decoded"][tc.name] : r["text"];
    EXPECT_EQ(json::parse(back[i]), want) << "ids " << r["ids"][tc.name].dump();
  }
}

INSTANTIATE_TEST_SUITE_P(All, HeldoutTokenize,
                         ::testing::Values(TokCase{"deepseek_v3", "tokenizers/deepseek_v3/tokenizer.json"},
                                           TokCase{"qwen2_5", "tokenizers/qwen2_5"},
                                           TokCase{"qwen3", "tokenizers/qwen3/tokenizer.json"},
                                           TokCase{"r1_distill_qwen", "tokenizers/r1_distill_qwen"}),
                         [](const auto& info) { return std::string(info.param.name); });

// Template name (a key of `rendered`) and the PATH form the CLI is given.
struct TmplCase {
  const char* name;
  const char* path;
  const char* label;
};

class HeldoutTemplate : public ::testing::TestWithParam<TmplCase> {};

TEST_P(HeldoutTemplate, RendersLikeJinja2) {
  SKIP_UNLESS_READY();
  const TmplCase tc = GetParam();
  const std::vector<json> rows = read_jsonl(source_dir() + "/tests/data/heldout_template.jsonl");
  ASSERT_GT(rows.size(), 40u);
  std::string in;
  for (const json& r : rows) in += r["request"].dump() + "\n";
  r1::test::TempDir dir;
  const CliRun run = run_r1("template " + quote(shared_root() + "/" + tc.path), in, dir);
  const auto got = lines(run.out);
  ASSERT_EQ(got.size(), rows.size()) << run.err;
  size_t failures = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const json& want = rows[i]["rendered"][tc.name];
    if (want.is_null()) ++failures;
    EXPECT_EQ(json::parse(got[i]), want) << "request " << rows[i]["request"].dump();
  }
  // A request the template rejects prints null, one stderr line, and makes the exit status 1.
  EXPECT_EQ(run.rc, failures ? 1 : 0) << run.err;
  EXPECT_EQ(lines(run.err).size(), failures) << run.err;
}

INSTANTIATE_TEST_SUITE_P(
    All, HeldoutTemplate,
    ::testing::Values(TmplCase{"deepseek_r1", "tokenizers/templates/deepseek_r1.jinja", "deepseek_r1"},
                      TmplCase{"deepseek_r1", "tokenizers/templates/deepseek_r1_distill_qwen.jinja", "r1_distill_qwen"},
                      TmplCase{"deepseek_r1_0528", "tokenizers/templates/deepseek_r1_0528.jinja", "deepseek_r1_0528"},
                      TmplCase{"deepseek_r1_jan2025", "tokenizers/templates/deepseek_r1_jan2025.jinja", "r1_jan2025"},
                      TmplCase{"deepseek_v3", "tokenizers/templates/deepseek_v3.jinja", "deepseek_v3"},
                      TmplCase{"deepseek_v3", "tokenizers/deepseek_v3/tokenizer_config.json", "deepseek_v3_config"},
                      TmplCase{"qwen2_5", "tokenizers/templates/qwen2_5.jinja", "qwen2_5"},
                      TmplCase{"qwen2_5", "tokenizers/qwen2_5", "qwen2_5_dir"},
                      TmplCase{"qwen3", "tokenizers/templates/qwen3.jinja", "qwen3"},
                      TmplCase{"qwen3", "tokenizers/qwen3/tokenizer_config.json", "qwen3_config"}),
    [](const auto& info) { return std::string(info.param.label); });

// Errors through the CLI: one clear stderr line and a non-zero exit, never a crash; a bad line in
// the middle of a batch answers null and the rest of the batch is still rendered.
TEST(HeldoutTemplateErrors, BadLinesAndPaths) {
  SKIP_UNLESS_READY();
  r1::test::TempDir dir;
  const std::string q = quote(shared_root() + "/tokenizers/templates/qwen3.jinja");
  const std::string good = R"({"messages":[{"role":"user","content":"hi"}],"add_generation_prompt":true})";
  const CliRun mixed = run_r1("template " + q,
                              good + "\n{not json\n\"a string\"\n" + R"({"messages":"x"})" + "\n" +
                                  R"({"messages":[],"add_generation_prompt":"yes"})" + "\n" + good + "\n",
                              dir);
  EXPECT_EQ(mixed.rc, 1);
  const auto out = lines(mixed.out);
  ASSERT_EQ(out.size(), 6u) << mixed.out;
  EXPECT_EQ(out[1], "null");
  EXPECT_EQ(out[2], "null");
  EXPECT_EQ(out[3], "null");
  EXPECT_EQ(out[4], "null");
  EXPECT_EQ(out[5], out[0]);
  EXPECT_EQ(json::parse(out[0]), "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
  const auto err = lines(mixed.err);
  ASSERT_EQ(err.size(), 4u) << mixed.err;
  for (int k = 0; k < 4; ++k) EXPECT_NE(err[k].find("line " + std::to_string(k + 2)), std::string::npos) << err[k];

  const CliRun missing = run_r1("template /no/such/template.jinja", good + "\n", dir);
  EXPECT_NE(missing.rc, 0);
  EXPECT_EQ(lines(missing.err).size(), 1u) << missing.err;
  EXPECT_NE(missing.err.find("/no/such"), std::string::npos) << missing.err;
  EXPECT_TRUE(missing.out.empty());

  // A directory without tokenizer_config.json / chat_template.jinja.
  const CliRun nodir = run_r1("template " + quote(dir.path()), good + "\n", dir);
  EXPECT_NE(nodir.rc, 0);
  EXPECT_EQ(lines(nodir.err).size(), 1u) << nodir.err;

  // A tokenizer_config.json without chat_template (the derived R1-distill config has none).
  const std::string distill_config = shared_root() + "/tokenizers/r1_distill_qwen/tokenizer_config.json";
  const CliRun nochat = run_r1("template " + quote(distill_config), good + "\n", dir);
  EXPECT_NE(nochat.rc, 0);
  EXPECT_EQ(lines(nochat.err).size(), 1u) << nochat.err;
}

TEST(HeldoutTokenizeErrors, PathsAndLines) {
  SKIP_UNLESS_READY();
  r1::test::TempDir dir;
  for (const std::string& p : {std::string("/no/such/tokenizer.json"), dir.path(),
                               shared_root() + "/tokenizers/README.md"}) {
    const CliRun r = run_r1("tokenize " + quote(p) + " --ids", "\"x\"\n", dir);
    EXPECT_NE(r.rc, 0) << p;
    EXPECT_EQ(lines(r.err).size(), 1u) << p << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << p;
  }
  // Empty string, a lone surrogate escape (U+FFFD, as JavaScript's TextEncoder), trailing junk.
  const std::string q = quote(shared_root() + "/tokenizers/qwen2_5/tokenizer.json");
  const CliRun r = run_r1("tokenize " + q, "\"\"\n\"\\ud800\"\n\"a\" x\n\"\\ufffd\"\n", dir);
  EXPECT_EQ(r.rc, 1);
  const auto out = lines(r.out);
  ASSERT_EQ(out.size(), 4u) << r.out;
  EXPECT_EQ(out[0], "[]");
  EXPECT_EQ(out[1], out[3]);
  EXPECT_EQ(out[2], "null");
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
  // --decode of a partial UTF-8 sequence: U+FFFD, valid JSON (HF decodes lossily).
  const CliRun enc = run_r1("tokenize " + q, "\"\xF0\xA0\x80\x80\"\n", dir);  // U+20000
  ASSERT_EQ(enc.rc, 0) << enc.err;
  const nlohmann::json ids = nlohmann::json::parse(lines(enc.out).at(0));
  ASSERT_GE(ids.size(), 2u) << "U+20000 is several byte tokens in Qwen2.5";
  const CliRun dec = run_r1("tokenize " + q + " --decode", "[" + std::to_string(ids[0].get<int>()) + "]\n", dir);
  ASSERT_EQ(dec.rc, 0) << dec.err;
  EXPECT_EQ(json::parse(lines(dec.out).at(0)), "\xEF\xBF\xBD");
}

}  // namespace
