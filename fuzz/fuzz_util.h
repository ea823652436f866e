// Helpers for harnesses whose parser reads files (loaders take a path, as the CLI gives them): a
// scratch folder private to the fuzzing process, removed at exit, and a plain file writer.
#pragma once
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/unicode.h"

namespace r1::fuzz {

/// $TMPDIR/r1-fuzz-<name>-<pid>/, created on first use and removed when the process exits.
inline const std::string& scratch_dir(const char* name) {
  // Never destroyed: the atexit handler below is registered before this static finishes
  // constructing, so a plain static would be destroyed before the handler reads it.
  static const std::string& dir = *new std::string([name] {
    namespace fs = std::filesystem;
    const fs::path d = fs::temp_directory_path() / (std::string("r1-fuzz-") + name + "-" + std::to_string(::getpid()));
    fs::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(scratch_dir(""), ec);
    });
    return d.string();
  }());
  return dir;
}

/// Writes `bytes` to `path` (replacing it); aborts when the scratch folder is not writable,
/// since every later input would then test nothing.
inline void write_file(const std::string& path, std::string_view bytes) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) std::abort();
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) std::abort();
  if (std::fclose(f) != 0) std::abort();
}

/// Splits an input at its first "\n\x1e\n" (a separator mutations rarely create by chance) into
/// two independent strings; without one, the second part is empty.
inline std::pair<std::string_view, std::string_view> split2(std::string_view s) {
  constexpr std::string_view kSep = "\n\x1e\n";
  const size_t at = s.find(kSep);
  if (at == std::string_view::npos) return {s, {}};
  return {s.substr(0, at), s.substr(at + kSep.size())};
}

/// A small byte-level BPE (tokenizer.json + tokenizer_config.json text) trained once per process:
/// the fixed vocabulary harnesses of side files and datasets load next to their input.
inline const tok::BpeTrainResult& small_bpe() {
  static const tok::BpeTrainResult r = [] {
    std::vector<std::string> texts;
    for (int i = 0; i < 20; ++i)
      texts.push_back("The answer is \\boxed{42}. <think>x = 7</think> 中文 émigré " + std::to_string(i * 7919));
    tok::BpeTrainerOptions opts;
    opts.vocab_size = 330;
    opts.special_tokens = {"<think>", "</think>", "<|im_end|>"};
    opts.bos_token = "<|bos|>";
    opts.eos_token = "<|eos|>";
    auto t = tok::train_bpe(texts, opts);
    if (!t.ok()) std::abort();
    return std::move(t).value();
  }();
  return r;
}

/// Runs a loaded tokenizer over `text`: every id in range, decode() and every StreamDecoder piece
/// valid UTF-8 (the contracts tokenizer.h states for any vocabulary it accepted).
inline void exercise_tokenizer(const tok::Tokenizer& t, std::string_view text) {
  for (bool special : {false, true}) {
    const std::vector<int32_t> ids = t.encode(text, special, special);
    for (int32_t id : ids)
      if (id < 0 || id >= t.vocab_size()) std::abort();
    if (!tok::utf8_valid(t.decode(ids))) std::abort();
    tok::StreamDecoder dec(t);
    for (int32_t id : ids)
      if (!tok::utf8_valid(dec.push(id))) std::abort();
    (void)dec.flush();
  }
}

}  // namespace r1::fuzz
