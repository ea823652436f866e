// libFuzzer harness for the tokenizer pipeline (added-token matching, PCRE2 pre-tokenization on
// arbitrary bytes, BPE merging, decode, StreamDecoder) on a small BPE trained at start-up (no
// shared data needed). Invariants: the token bytes of encode(x) concatenate back to x exactly;
// decode() and StreamDecoder give the same valid UTF-8.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "core/storage.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace {

const r1::tok::Tokenizer& tokenizer() {
  static std::unique_ptr<r1::tok::Tokenizer> tok = [] {
    std::vector<std::string> texts;
    for (int i = 0; i < 30; ++i) {
      texts.push_back("The quick brown fox 123 jumps; <think>x = 42</think> 中文 テキスト émigré \t\n  spaces " +
                      std::to_string(i * 7919));
    }
    r1::tok::BpeTrainerOptions opts;
    opts.vocab_size = 380;
    opts.special_tokens = {"<think>", "</think>", "<|im_end|>"};
    opts.bos_token = "<|bos|>";
    auto trained = r1::tok::train_bpe(texts, opts);
    if (!trained.ok()) std::abort();
    const std::string dir = std::filesystem::temp_directory_path() / ("r1-tokfuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir);
    const std::string path = dir + "/tokenizer.json";
    if (!r1::write_file_atomic(path, trained->tokenizer_json.data(), trained->tokenizer_json.size()).ok()) std::abort();
    auto t = r1::tok::Tokenizer::from_tokenizer_json(path);
    std::filesystem::remove_all(dir);
    if (!t.ok()) std::abort();
    return std::move(t).value();
  }();
  return *tok;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const r1::tok::Tokenizer& tok = tokenizer();
  const bool parse_special = (data[0] & 1) != 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<int32_t> ids = tok.encode(text, false, parse_special);
  std::string bytes;
  for (int32_t id : ids) {
    if (id < 0 || id >= tok.vocab_size()) std::abort();
    bytes += tok.token_bytes(id);
  }
  if (bytes != text) std::abort();
  const std::string decoded = tok.decode(ids);
  if (!r1::tok::utf8_valid(decoded)) std::abort();
  r1::tok::StreamDecoder dec(tok);
  std::string streamed;
  for (int32_t id : ids) streamed += dec.push(id);
  streamed += dec.flush();
  if (streamed != decoded) std::abort();
  return 0;
}
