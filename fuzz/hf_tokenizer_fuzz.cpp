// libFuzzer harness for the tokenizer.json loader (Tokenizer::from_tokenizer_json): the vocab,
// merges (both HF encodings), added tokens, normalizer and pre-tokenizer sections of a file a user
// hands us. Input: tokenizer.json text, written alone into a scratch folder (no side configs).
// Invariants: no crash, hang or sanitizer report; a tokenizer that loads encodes and decodes a
// fixed text within tokenizer.h's contracts (ids in range, valid UTF-8 out).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = r1::fuzz::scratch_dir("hf_tokenizer") + "/tokenizer.json";
  r1::fuzz::write_file(path, std::string_view(reinterpret_cast<const char*>(data), size));
  auto t = r1::tok::Tokenizer::from_tokenizer_json(path);
  if (!t.ok()) return 0;
  r1::fuzz::exercise_tokenizer(**t, "Hello world, 123 4567 <think>x</think> 中文 \xff\xfe é\n\n  tabs\t<|im_end|>");
  return 0;
}
