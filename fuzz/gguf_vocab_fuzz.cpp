// libFuzzer harness for the GGUF vocabulary (Tokenizer::from_gguf: tokenizer.ggml.model, tokens,
// token_type, scores, merges, pre, special ids) of a GGUF file a user hands us. Input: GGUF bytes
// (seeds: small files with a SentencePiece and a byte-level BPE vocabulary and no tensors).
// Invariants: no crash, hang or sanitizer report; a vocabulary that loads encodes and decodes a
// fixed text within tokenizer.h's contracts (ids in range, valid UTF-8 out).
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/storage.h"
#include "fuzz_util.h"
#include "io/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = r1::Storage::allocate(size);
  if (size > 0) std::memcpy(bytes->data(), data, size);
  auto g = r1::io::GgufFile::parse(bytes, "fuzz.gguf");
  if (!g.ok()) return 0;
  auto t = r1::tok::Tokenizer::from_gguf(*g);
  if (!t.ok()) return 0;
  r1::fuzz::exercise_tokenizer(**t, "Hello world, 123 <s> </s> <|im_end|> 中文 \xff é\n\n  x");
  return 0;
}
