// The tokenizer fuzz seed corpora (fuzz/seeds/<harness>/) stay valid: each seed loads, so the
// fuzzers start from inputs that reach past the loaders' first checks into the vocabulary code.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "core/storage.h"
#include "io/gguf.h"
#include "tokenizer/tokenizer.h"

namespace r1::tok {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> seeds(const std::string& harness) {
  std::vector<std::string> out;
  const fs::path dir = fs::path(R1_SOURCE_DIR) / "fuzz" / "seeds" / harness;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) out.push_back(e.path().string());
  return out;
}

TEST(FuzzSeeds, GgufVocabSeedsLoad) {
  const auto files = seeds("gguf_vocab_fuzz");
  ASSERT_EQ(files.size(), 3u);
  for (const auto& p : files) {
    EXPECT_LT(fs::file_size(p), 10000u) << p;
    auto g = io::GgufFile::open(p);
    ASSERT_TRUE(g.ok()) << g.message();
    auto t = Tokenizer::from_gguf(*g);
    ASSERT_TRUE(t.ok()) << p << ": " << t.message();
    EXPECT_GE((*t)->vocab_size(), 256) << p;
    EXPECT_GE((*t)->eos_id(), 0) << p;
    // The seeds' merges (or SentencePiece scores) reach whole words: " Hello world" is 3 pieces
    // (byte-level: "ĠHello" splits as Ġ + Hello, "Ġworld") or 4 ("▁", "▁H", "ello", "▁world"),
    // not the 12 bytes, so the fuzzer starts inside the merge loops.
    EXPECT_LE((*t)->encode(" Hello world").size(), 4u) << p;
  }
}

TEST(FuzzSeeds, TokenizerJsonSeedsLoad) {
  const auto files = seeds("hf_tokenizer_fuzz");
  ASSERT_EQ(files.size(), 2u);
  for (const auto& p : files) {
    // Each seed alone in a folder, as the harness loads it (no side configs).
    const fs::path dir = fs::path(::testing::TempDir()) / ("r1-seed-" + fs::path(p).stem().string() + "-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(p, dir / "tokenizer.json", fs::copy_options::overwrite_existing);
    auto t = Tokenizer::from_tokenizer_json((dir / "tokenizer.json").string());
    ASSERT_TRUE(t.ok()) << p << ": " << t.message();
    EXPECT_GE((*t)->vocab_size(), 5) << p;
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace r1::tok
