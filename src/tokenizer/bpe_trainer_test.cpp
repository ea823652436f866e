// BPE trainer tests: train on a small inline corpus, write tokenizer.json, load it back, round trip.
#include "tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "tokenizer/tokenizer.h"

namespace r1::tok {
namespace {

std::vector<std::string> corpus() {
  std::vector<std::string> texts;
  const char* base[] = {
      "The quick brown fox jumps over the lazy dog. The dog sleeps.",
      "<think>\nLet me compute 12 + 30 = 42.\n</think>\nThe answer is 42.",
      "def add(a, b):\n    return a + b\n",
      "Tokenizers split text into tokens; tokens become ids.",
      "中文文本和日本語のテキスト, émigré café naïve",
  };
  for (int rep = 0; rep < 20; ++rep) {
    for (const char* b : base) texts.emplace_back(b);
  }
  return texts;
}

void write(const std::string& path, const std::string& s) {
  std::ofstream f(path, std::ios::binary);
  f << s;
}

TEST(BpeTrainer, TrainsLoadsAndRoundTrips) {
  BpeTrainerOptions opts;
  opts.vocab_size = 400;
  opts.special_tokens = {"<think>", "</think>"};
  opts.bos_token = "<|begin_of_text|>";
  opts.eos_token = "<|end_of_text|>";
  auto r = train_bpe(corpus(), opts);
  ASSERT_TRUE(r.ok()) << r.message();
  EXPECT_EQ(r->vocab_size, 400);
  EXPECT_GT(r->n_merges, 100);

  test::TempDir dir;
  write(dir.file("tokenizer.json"), r->tokenizer_json);
  write(dir.file("tokenizer_config.json"), r->tokenizer_config_json);
  auto tok = Tokenizer::from_path(dir.path());
  ASSERT_TRUE(tok.ok()) << tok.message();
  const Tokenizer& t = **tok;
  EXPECT_EQ(t.vocab_size(), 400);
  EXPECT_EQ(t.token_id("<think>"), std::optional<int32_t>(0));
  EXPECT_EQ(t.token_id("</think>"), std::optional<int32_t>(1));
  EXPECT_EQ(t.bos_id(), 2);
  EXPECT_EQ(t.eos_id(), 3);
  EXPECT_TRUE(t.add_bos_default());
  EXPECT_TRUE(t.is_special(2));

  // Special tokens are single ids; frequent words became single tokens.
  const auto ids = t.encode("<think>The answer</think>", /*add_bos=*/true);
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], 2);
  EXPECT_EQ(ids[1], 0);
  EXPECT_EQ(ids.back(), 1);
  EXPECT_EQ(t.encode(" quick").size(), 1u);
  for (const char* text : {"The quick brown fox", "unseen wörds ✓ 😀 and\ttabs\n\n  spaces", "<think>x</think>",
                           "", "中文", "\xff\xfe raw bytes"}) {
    const std::string s(text);
    EXPECT_EQ(t.decode(t.encode(s)), s.find('\xff') == std::string::npos ? s : "\xEF\xBF\xBD\xEF\xBF\xBD raw bytes")
        << s;
  }
  EXPECT_EQ(t.decode(ids, /*skip_special=*/true), "The answer");

  // The file has the structure HF tokenizers expects.
  const auto j = nlohmann::json::parse(r->tokenizer_json);
  EXPECT_EQ(j["model"]["type"], "BPE");
  EXPECT_EQ(j["pre_tokenizer"]["type"], "ByteLevel");
  EXPECT_EQ(j["decoder"]["type"], "ByteLevel");
  EXPECT_EQ(j["model"]["vocab"].size(), 400u);
  EXPECT_EQ(j["added_tokens"].size(), 4u);
  EXPECT_TRUE(j["model"]["merges"][0].is_string());
}

TEST(BpeTrainer, Deterministic) {
  BpeTrainerOptions opts;
  opts.vocab_size = 320;
  auto a = train_bpe(corpus(), opts);
  auto b = train_bpe(corpus(), opts);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->tokenizer_json, b->tokenizer_json);
}

TEST(BpeTrainer, RejectsBadOptions) {
  BpeTrainerOptions opts;
  opts.vocab_size = 100;
  EXPECT_FALSE(train_bpe(corpus(), opts).ok());
  opts.vocab_size = 300;
  opts.special_tokens = {"<a>", "<a>"};
  EXPECT_FALSE(train_bpe(corpus(), opts).ok());
}

TEST(BpeTrainer, ReadsJsonlCorpus) {
  test::TempDir dir;
  write(dir.file("c.jsonl"), "{\"text\": \"hello\\nworld\"}\n{\"text\": \"second\"}\n");
  auto texts = read_training_corpus(dir.file("c.jsonl"));
  ASSERT_TRUE(texts.ok()) << texts.message();
  EXPECT_EQ(*texts, (std::vector<std::string>{"hello\nworld", "second"}));
  write(dir.file("bad.jsonl"), "{\"text\": \"ok\"}\n{\"other\": 1}\n");
  auto bad = read_training_corpus(dir.file("bad.jsonl"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("line 2"), std::string::npos) << bad.message();
  write(dir.file("plain.txt"), "just text\n");
  EXPECT_EQ(read_training_corpus(dir.file("plain.txt")).value(), (std::vector<std::string>{"just text\n"}));
}

}  // namespace
}  // namespace r1::tok
