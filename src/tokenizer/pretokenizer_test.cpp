// Unit tests of the pre-tokenizer (regex translation, split behaviours) and the UTF-8 helpers.
#include "tokenizer/pretokenizer.h"

#include <gtest/gtest.h>

#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1::tok {
namespace {

std::vector<std::string> run(const PreTokenizer& p, std::string_view text) {
  std::vector<Piece> pieces;
  std::vector<std::unique_ptr<std::string>> owned;
  p.split(text, pieces, owned);
  return {pieces.begin(), pieces.end()};
}

PreTokenizer one_split(const std::string& re, SplitBehavior b, bool invert = false) {
  PreTokenizerStep s;
  s.regex = std::shared_ptr<const Regex>(Regex::compile(re).value());
  s.behavior = b;
  s.invert = invert;
  return PreTokenizer({s});
}

using V = std::vector<std::string>;

TEST(PreTokenizer, SplitBehaviours) {
  // Expected pieces as HF tokenizers documents them for pattern "-" on "the-final--countdown".
  const std::string text = "the-final--countdown";
  EXPECT_EQ(run(one_split("-", SplitBehavior::Removed), text), (V{"the", "final", "countdown"}));
  EXPECT_EQ(run(one_split("-", SplitBehavior::Isolated), text), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(run(one_split("-", SplitBehavior::MergedWithPrevious), text), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(run(one_split("-", SplitBehavior::MergedWithNext), text), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(run(one_split("-", SplitBehavior::Contiguous), text), (V{"the", "-", "final", "--", "countdown"}));
  // invert: the matches are the pieces to keep, the rest is what Removed drops.
  EXPECT_EQ(run(one_split("[a-z]+", SplitBehavior::Removed, /*invert=*/true), text), (V{"the", "final", "countdown"}));
  EXPECT_EQ(run(one_split("x", SplitBehavior::Removed), "abc"), (V{"abc"}));
}

TEST(PreTokenizer, Gpt2RegexWithByteLevelPrefixSpace) {
  PreTokenizerStep s;
  s.kind = PreTokenizerStep::Kind::ByteLevel;
  s.regex = std::shared_ptr<const Regex>(Regex::compile(kGpt2Regex).value());
  s.add_prefix_space = true;
  const PreTokenizer p({s});
  EXPECT_EQ(run(p, "Hello world's  end!!\n"), (V{" Hello", " world", "'s", " ", " end", "!!", "\n"}));
}

TEST(PreTokenizer, WhitespaceLookaheadAndUnicodeClasses) {
  const PreTokenizer p = one_split(
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
      "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
      SplitBehavior::Isolated);
  EXPECT_EQ(run(p, "a   b"), (V{"a", "  ", " b"}));
  EXPECT_EQ(run(p, "I'LL 42"), (V{"I", "'LL", " ", "4", "2"}));
  EXPECT_EQ(run(p, "x\u3000\u3000y"), (V{"x", "\u3000", "\u3000y"}));
  EXPECT_EQ(run(p, "日本語テキスト"), (V{"日本語テキスト"}));
  // \s is Unicode White_Space as in HF's Rust tokenizers (Oniguruma): U+0085 is whitespace, U+FEFF
  // is not (plain JavaScript \s is the reverse). Expected splits from @huggingface/tokenizers 0.2.0.
  EXPECT_EQ(run(p, "a \uFEFF!"), (V{"a", " \uFEFF!"}));
  EXPECT_EQ(run(p, "a \u0085!"), (V{"a", " ", "\u0085", "!"}));
  EXPECT_EQ(run(p, "a \u0085 b"), (V{"a", " \u0085", " b"}));
}

TEST(PreTokenizer, InvalidUtf8NeverMatches) {
  const PreTokenizer p = one_split("\\p{L}+", SplitBehavior::Isolated);
  EXPECT_EQ(run(p, "ab\xff\xfe" "cd"), (V{"ab", "\xff\xfe", "cd"}));
}

TEST(PreTokenizer, RegexTranslation) {
  EXPECT_EQ(translate_hf_regex("a\\sb"),
            "a[\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}]b");
  EXPECT_EQ(translate_hf_regex("[^\\s!]"),
            "[^\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}!]");
  EXPECT_EQ(translate_hf_regex("\\p{Han}\\p{Greek}"), "\\p{Han}\\p{Greek}");  // scripts: unchanged
  EXPECT_EQ(translate_hf_regex("\\\\s"), "\\\\s");  // an escaped backslash followed by 's'
  EXPECT_FALSE(Regex::compile("(unclosed").ok());
}

// General categories follow current Unicode, not PCRE2 10.42's Unicode 14.0 tables. Expected
// splits from @huggingface/tokenizers 0.2.0 (Node.js 20, Unicode 17.0): U+11F04 KAWI LETTER A (15.0)
// is a letter, U+1FAE8 SHAKING FACE (15.0) a symbol, U+1E4F0 NAG MUNDARI DIGIT ZERO (15.0) a digit.
TEST(PreTokenizer, NewerUnicodeCategories) {
  const PreTokenizer ds = one_split(
      "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
      "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+",
      SplitBehavior::Isolated);
  EXPECT_EQ(run(ds, " \U00011F04"), (V{" \U00011F04"}));
  EXPECT_EQ(run(ds, "\U0001F9FF\U0001FAE8\U0001FAF8"), (V{"\U0001F9FF\U0001FAE8\U0001FAF8"}));
  const PreTokenizer qwen = one_split("[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|\\P{L}", SplitBehavior::Isolated);
  EXPECT_EQ(run(qwen, "a\U00011F04b"), (V{"a\U00011F04b"}));
  EXPECT_EQ(run(one_split("\\p{N}{1,3}", SplitBehavior::Isolated), "\U0001E4F0\U0001E4F1\U0001E4F2\U0001E4F3"),
            (V{"\U0001E4F0\U0001E4F1\U0001E4F2", "\U0001E4F3"}));
  EXPECT_EQ(run(qwen, "\U0001FAE8\U00011F04"), (V{"\U0001FAE8\U00011F04"}));
  EXPECT_EQ(run(one_split("\\P{L}+", SplitBehavior::Isolated), "x\U00011F04!"), (V{"x\U00011F04", "!"}));
  // Texts without such code points take the plain (faster) pattern; mixed texts the full one.
  EXPECT_FALSE(has_newer_unicode("abc \u4e2d\u6587 \U0001F600 \xff"));
  EXPECT_TRUE(has_newer_unicode("abc \U00011F04"));
  EXPECT_TRUE(has_newer_unicode("\U0001FAE8"));
  EXPECT_EQ(run(qwen, "ab cd \U00011F04x"), (V{"ab", " cd", " \U00011F04x"}));
}

TEST(PreTokenizer, GgufPreNames) {
  for (const char* name : {"gpt2", "default", "llama3", "llama-bpe", "qwen2", "deepseek-v3", "deepseek-llm",
                           "deepseek-coder", "deepseek-r1-qwen"}) {
    auto p = pretokenizer_for_gguf_pre(name);
    EXPECT_TRUE(p.ok()) << name << ": " << (p.ok() ? "" : p.message());
  }
  EXPECT_FALSE(pretokenizer_for_gguf_pre("no-such-pre").ok());
  const PreTokenizer ds = pretokenizer_for_gguf_pre("deepseek-v3").value();
  EXPECT_EQ(run(ds, "1234567中文abc"), (V{"123", "456", "7", "中文", "abc"}));
}

TEST(Unicode, Utf8Helpers) {
  EXPECT_EQ(utf8_lossy("a\xF0\x9F\x98" "b"), "a\xEF\xBF\xBD" "b");  // truncated 4-byte sequence: one U+FFFD
  EXPECT_EQ(utf8_lossy("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");    // overlong: each byte replaced
  EXPECT_EQ(utf8_lossy("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8_complete_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(utf8_complete_prefix("ab\xFF"), 3u);  // can never complete: pass it on
  EXPECT_EQ(utf8_complete_prefix("\xE2\x82"), 0u);
  EXPECT_TRUE(utf8_valid("héllo 😀"));
  EXPECT_FALSE(utf8_valid("\xC3"));
  EXPECT_EQ(nfc("e\u0301"), "\u00e9");
  EXPECT_EQ(nfc("A\u030A\xff"), "\u00c5\xff");  // invalid byte kept, the rest normalized
  std::string bytes;
  ASSERT_TRUE(byte_level_to_bytes("\u0120\u010A", bytes));
  EXPECT_EQ(bytes, " \n");
  EXPECT_EQ(codepoint_to_byte(0x120), ' ');
  EXPECT_EQ(byte_to_codepoint()['!'], static_cast<uint32_t>('!'));
  EXPECT_EQ(byte_to_codepoint()[0], 0x100u);
}

}  // namespace
}  // namespace r1::tok
