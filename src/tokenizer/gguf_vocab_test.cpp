// GGUF "gpt2" vocabularies: the shared tokenizer.json files are converted to GGUF metadata the
// way llama.cpp's converter does (tokens by id, "a b" merges, token types, tokenizer.ggml.pre);
// the loaded tokenizer must reproduce the reference cases.
#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "io/gguf.h"
#include "io/gguf_writer.h"
#include "tokenizer/tokenizer.h"

namespace r1::tok {
namespace {

using nlohmann::json;

// Writes the tokenizer metadata of shared/tokenizers/NAME as a tensor-less GGUF file.
std::string convert_to_gguf(const std::string& name, const std::string& pre, const test::TempDir& dir) {
  std::ifstream f(test::shared_path("tokenizers/" + name + "/tokenizer.json"));
  const json j = json::parse(f);
  size_t n = 0;
  for (const auto& [tok, id] : j["model"]["vocab"].items()) n = std::max<size_t>(n, id.get<size_t>() + 1);
  for (const auto& a : j["added_tokens"]) n = std::max<size_t>(n, a["id"].get<size_t>() + 1);
  std::vector<std::string> tokens(n);
  std::vector<int32_t> types(n, 1);  // NORMAL
  for (const auto& [tok, id] : j["model"]["vocab"].items()) tokens[id.get<size_t>()] = tok;
  for (const auto& a : j["added_tokens"]) {
    tokens[a["id"].get<size_t>()] = a["content"].get<std::string>();
    types[a["id"].get<size_t>()] = a["special"].get<bool>() ? 3 : 4;  // CONTROL : USER_DEFINED
  }
  std::vector<std::string> merges;
  for (const auto& m : j["model"]["merges"]) {
    merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  io::GgufWriter w;
  w.set_string("general.architecture", "test");
  w.set_string("tokenizer.ggml.model", "gpt2");
  w.set_string("tokenizer.ggml.pre", pre);
  w.set_string_array("tokenizer.ggml.tokens", tokens);
  w.set_i32_array("tokenizer.ggml.token_type", types);
  w.set_string_array("tokenizer.ggml.merges", merges);
  w.set_u32("tokenizer.ggml.eos_token_id", 1);
  w.set_bool("tokenizer.ggml.add_bos_token", false);
  const std::string path = dir.file(name + ".gguf");
  EXPECT_TRUE(w.write(path).ok());
  return path;
}

void check_cases(const std::string& name, const std::string& pre) {
  test::TempDir dir;
  const std::string path = convert_to_gguf(name, pre, dir);
  auto tok = Tokenizer::from_path(path);
  ASSERT_TRUE(tok.ok()) << tok.message();
  std::ifstream f(test::shared_path("tokenizers/cases-sample/" + name + ".jsonl"));
  std::string line;
  int n = 0;
  while (std::getline(f, line)) {
    const json c = json::parse(line);
    const auto want = c["ids"].get<std::vector<int32_t>>();
    EXPECT_EQ(json((*tok)->encode(c["text"].get<std::string>())).dump(), json(want).dump())
        << name << " text: " << json(c["text"]).dump();
    EXPECT_EQ((*tok)->decode(want), c["decoded"].get<std::string>());
    ++n;
  }
  EXPECT_GT(n, 0);
  EXPECT_EQ((*tok)->eos_id(), 1);
  EXPECT_FALSE((*tok)->add_bos_default());
}

TEST(GgufVocab, Gpt2Qwen2MatchesReference) {
  R1_SKIP_UNLESS_SHARED("");
  check_cases("qwen2_5", "qwen2");
}

TEST(GgufVocab, Gpt2DeepseekV3MatchesReference) {
  R1_SKIP_UNLESS_SHARED("");
  check_cases("deepseek_v3", "deepseek-v3");
}

TEST(GgufVocab, BadMetadataIsAnError) {
  test::TempDir dir;
  io::GgufWriter w;
  w.set_string("tokenizer.ggml.model", "bert");
  w.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  ASSERT_TRUE(w.write(dir.file("bad.gguf")).ok());
  auto tok = Tokenizer::from_path(dir.file("bad.gguf"));
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(tok.message().find("bert"), std::string::npos) << tok.message();

  io::GgufWriter w2;
  w2.set_string("tokenizer.ggml.model", "gpt2");
  w2.set_string_array("tokenizer.ggml.tokens", {"a", "b"});
  w2.set_string_array("tokenizer.ggml.merges", {"a c"});
  ASSERT_TRUE(w2.write(dir.file("bad2.gguf")).ok());
  auto tok2 = Tokenizer::from_path(dir.file("bad2.gguf"));
  ASSERT_FALSE(tok2.ok());
  EXPECT_NE(tok2.message().find("merges[0]"), std::string::npos) << tok2.message();
}

}  // namespace
}  // namespace r1::tok
