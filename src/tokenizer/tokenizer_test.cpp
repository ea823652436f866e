// Tokenizer tests: the shared reference cases (ids from @lenml/tokenizers, a transformers.js port),
// decode, streaming decode, multilingual round trips and the stories260K GGUF vocabulary.
#include "tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "core/test_util.h"
#include "io/gguf.h"
#include "tokenizer/unicode.h"

namespace r1::tok {
namespace {

using nlohmann::json;

const char* const kNames[] = {"deepseek_v3", "qwen2_5", "qwen3", "r1_distill_qwen"};

// Loads each shared tokenizer once for the whole binary (the big vocabularies take ~0.5 s each).
const Tokenizer* shared_tokenizer(const std::string& name) {
  static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return it->second.get();
  auto t = Tokenizer::from_path(test::shared_path("tokenizers/" + name));
  EXPECT_TRUE(t.ok()) << t.message();
  if (!t.ok()) return nullptr;
  return (cache[name] = std::move(t).value()).get();
}

std::vector<json> read_cases(const std::string& name) {
  std::vector<json> cases;
  std::ifstream f(test::shared_path("tokenizers/cases-sample/" + name + ".jsonl"));
  std::string line;
  while (std::getline(f, line)) {
    if (!line.empty()) cases.push_back(json::parse(line));
  }
  return cases;
}

std::string show(const std::vector<int32_t>& v) {
  return json(v).dump();
}

class SharedCases : public ::testing::TestWithParam<const char*> {};

TEST_P(SharedCases, EncodeAndDecodeMatchReference) {
  R1_SKIP_UNLESS_SHARED("");
  const std::string name = GetParam();
  const Tokenizer* tok = shared_tokenizer(name);
  ASSERT_NE(tok, nullptr);
  const auto cases = read_cases(name);
  ASSERT_FALSE(cases.empty());
  for (const json& c : cases) {
    const std::string text = c["text"].get<std::string>();
    const std::vector<int32_t> want = c["ids"].get<std::vector<int32_t>>();
    const std::vector<int32_t> got = tok->encode(text);
    EXPECT_EQ(show(got), show(want)) << name << " text: " << json(text).dump();
    EXPECT_EQ(tok->decode(want), c["decoded"].get<std::string>()) << name << " text: " << json(text).dump();
  }
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, SharedCases, ::testing::ValuesIn(kNames));

TEST(Tokenizer, SpecialTokensAndConfig) {
  R1_SKIP_UNLESS_SHARED("");
  const Tokenizer* ds = shared_tokenizer("deepseek_v3");
  ASSERT_NE(ds, nullptr);
  EXPECT_EQ(ds->bos_id(), 0);
  EXPECT_EQ(ds->eos_id(), 1);
  EXPECT_TRUE(ds->add_bos_default());
  EXPECT_EQ(ds->vocab_size(), 128815);
  EXPECT_TRUE(ds->is_special(0));
  EXPECT_EQ(ds->token_id("<｜User｜>"), std::optional<int32_t>(128803));
  EXPECT_FALSE(ds->token_id("<think>").has_value());
  EXPECT_EQ(ds->encode("hi", /*add_bos=*/true).front(), 0);
  // parse_special=false encodes the text of a special token as ordinary text.
  const auto as_text = ds->encode("<｜end▁of▁sentence｜>", false, /*parse_special=*/false);
  EXPECT_GT(as_text.size(), 1u);
  EXPECT_EQ(ds->decode(as_text), "<｜end▁of▁sentence｜>");

  const Tokenizer* q3 = shared_tokenizer("qwen3");
  ASSERT_NE(q3, nullptr);
  EXPECT_EQ(q3->bos_id(), -1);
  EXPECT_EQ(q3->token_id("<think>"), std::optional<int32_t>(151667));
  EXPECT_EQ(q3->eos_id(), 151645);
  EXPECT_FALSE(q3->add_bos_default());
  EXPECT_EQ(q3->encode("a<think>b", true), (std::vector<int32_t>{64, 151667, 65}));
  const std::vector<int32_t> ids = q3->encode("<|im_start|>user\nhi<|im_end|>");
  EXPECT_EQ(q3->decode(ids, /*skip_special=*/true), "user\nhi");
  EXPECT_EQ(q3->decode(ids), "<|im_start|>user\nhi<|im_end|>");

  const Tokenizer* r1 = shared_tokenizer("r1_distill_qwen");
  ASSERT_NE(r1, nullptr);
  EXPECT_EQ(r1->bos_id(), 151646);
  EXPECT_EQ(r1->eos_id(), 151643);
  EXPECT_EQ(r1->token_id("<think>"), std::optional<int32_t>(151648));
}

// Texts that exercise every pre-tokenizer branch: emoji (ZWJ, flags, skin tones), CJK, Arabic,
// Hindi, Thai, combining marks, code, whitespace runs, control characters, private use, BOM.
const char* const kRoundTrip[] = {
    "",
    " ",
    "Hello, world!",
    "👨‍👩‍👧‍👦 family, 🏳️‍🌈 flag, 👍🏽 thumbs, 🇯🇵🇫🇷 flags",
    "中文测试：你好，世界！日本語のテキスト、カタカナ。한국어 텍스트",
    "مرحبا بالعالم، هذا نص عربي مع أرقام ١٢٣",
    "नमस्ते दुनिया, यह हिंदी पाठ है। क्षत्रिय",
    "ภาษาไทยไม่มีช่องว่าง",
    "e\u0301 a\u0308 n\u0303 \u1e9b\u0323 Å Å ﬁ ① ²",
    "def f(x):\n\treturn x**2  # square\n\n\n    if x != 0 and y >= 1: pass\r\n",
    "int main() { std::vector<int> v{1,2,3}; return v[0] << 2; }",
    "tabs\t\t\tand   spaces    \n\n  \n\t \u00a0\u2003\u3000 mixed\u2028line\u2029para\u0085nel",
    "\x01\x02\x1b[31mred\x1b[0m \x7f",
    "\uFEFFbom \uFFFD replacement \uFFFF non-character \U0010FFFF max \uE000 private",
    "numbers 1234567890 3.14159 1e-10 0x7fff ١٢٣٤ ௧௨௩",
    "'s 'T 'Re 'VE 'm 'LL 'd don't I'M we'll",
    "<|im_start|>user\nhi<|im_end|><｜User｜><think>\nreasoning</think>",
    "ALLCAPS lowercase MiXeD aLtErNaTiNg",
    "a                                                                b",
    "\xed\x9f\xbf \xee\x80\x80 \xf0\x90\x80\x80 \xf4\x8f\xbf\xbf",
};

TEST(Tokenizer, RoundTripMultilingual) {
  R1_SKIP_UNLESS_SHARED("");
  for (const char* name : kNames) {
    const Tokenizer* tok = shared_tokenizer(name);
    ASSERT_NE(tok, nullptr);
    const bool normalizes = std::string(name) != "deepseek_v3";
    for (const char* text : kRoundTrip) {
      const std::string want = normalizes ? nfc(text) : std::string(text);
      EXPECT_EQ(tok->decode(tok->encode(text)), want) << name << " text: " << json(std::string(text)).dump();
    }
  }
}

TEST(Tokenizer, InvalidUtf8IsEncodedByteWise) {
  R1_SKIP_UNLESS_SHARED("");
  const Tokenizer* tok = shared_tokenizer("deepseek_v3");
  ASSERT_NE(tok, nullptr);
  const std::string bad = "ok \xff\xfe \xc3 end \xe2\x82";
  const auto ids = tok->encode(bad);
  std::string bytes;
  for (int32_t id : ids) bytes += tok->token_bytes(id);
  EXPECT_EQ(bytes, bad);
  // decode() replaces each maximal invalid subpart with U+FFFD, like from_utf8_lossy.
  EXPECT_EQ(tok->decode(ids), "ok \xEF\xBF\xBD\xEF\xBF\xBD \xEF\xBF\xBD end \xEF\xBF\xBD");
}

TEST(Tokenizer, StreamDecoderHoldsIncompleteUtf8) {
  R1_SKIP_UNLESS_SHARED("");
  for (const char* name : kNames) {
    const Tokenizer* tok = shared_tokenizer(name);
    ASSERT_NE(tok, nullptr);
    for (const char* text : kRoundTrip) {
      const auto ids = tok->encode(text);
      StreamDecoder dec(*tok);
      std::string streamed;
      for (int32_t id : ids) {
        const std::string piece = dec.push(id);
        EXPECT_TRUE(utf8_valid(piece)) << name;
        streamed += piece;
      }
      streamed += dec.flush();
      EXPECT_EQ(streamed, tok->decode(ids)) << name << " text: " << json(std::string(text)).dump();
    }
  }
  // A rare character split over byte tokens: nothing comes out until its last byte arrives.
  const Tokenizer* tok = shared_tokenizer("qwen2_5");
  ASSERT_NE(tok, nullptr);
  const std::string rare = "\U00012000";  // CUNEIFORM SIGN A
  const auto ids = tok->encode(rare);
  ASSERT_GT(ids.size(), 1u);
  StreamDecoder dec(*tok);
  for (size_t i = 0; i + 1 < ids.size(); ++i) EXPECT_EQ(dec.push(ids[i]), "");
  EXPECT_EQ(dec.push(ids.back()), rare);
  EXPECT_EQ(dec.flush(), "");
}

TEST(Tokenizer, EncodeIsThreadSafe) {
  R1_SKIP_UNLESS_SHARED("");
  const Tokenizer* tok = shared_tokenizer("qwen2_5");
  ASSERT_NE(tok, nullptr);
  std::vector<std::vector<int32_t>> want;
  for (const char* t : kRoundTrip) want.push_back(tok->encode(t));
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0};
  for (int th = 0; th < 4; ++th) {
    threads.emplace_back([&] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < std::size(kRoundTrip); ++i) {
          if (tok->encode(kRoundTrip[i]) != want[i]) ++mismatches;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches.load(), 0);
}

TEST(Tokenizer, Stories260kSentencePieceGguf) {
  R1_SKIP_UNLESS_SHARED("");
  const std::string dir = test::shared_path("models/stories260K");
  auto tok = Tokenizer::from_path(dir + "/stories260K.gguf");
  ASSERT_TRUE(tok.ok()) << tok.message();
  std::ifstream f(dir + "/expected_once_upon_a_time.json");
  const json ref = json::parse(f);
  const auto want = ref["prompt_ids"].get<std::vector<int32_t>>();
  const std::string prompt = ref["prompt_text"].get<std::string>();
  EXPECT_EQ(show((*tok)->encode(prompt, /*add_bos=*/true)), show(want));
  EXPECT_TRUE((*tok)->add_bos_default());
  EXPECT_EQ((*tok)->bos_id(), 1);
  EXPECT_EQ((*tok)->eos_id(), 2);
  const auto greedy = ref["greedy_ids"].get<std::vector<int32_t>>();
  const std::string greedy_text = ref["greedy_text"].get<std::string>();
  StreamDecoder dec(**tok);
  std::string streamed;
  for (int32_t id : greedy) streamed += dec.push(id);
  streamed += dec.flush();
  EXPECT_EQ(streamed, greedy_text);
  // Whole-sequence decode strips the SentencePiece leading space: prompt round trip.
  EXPECT_EQ((*tok)->decode(want, /*skip_special=*/true), prompt);
  // Byte fallback: characters outside the 512-token vocabulary become <0xNN> tokens.
  const auto ids = (*tok)->encode("Once 😀 upon");
  EXPECT_EQ((*tok)->decode(ids), "Once 😀 upon");
}

}  // namespace
}  // namespace r1::tok
