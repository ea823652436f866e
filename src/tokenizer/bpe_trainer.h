// Byte-level BPE training (GPT-2 style): learns merges by pair frequency from a corpus and
// writes a Hugging Face tokenizer.json (model BPE, ByteLevel pre-tokenizer and decoder) that
// Tokenizer::from_tokenizer_json and HF `tokenizers` both read.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"

namespace r1::tok {

struct BpeTrainerOptions {
  /// Total vocabulary size: special tokens + 256 byte tokens + merges. Must be >= specials + 256.
  int32_t vocab_size = 1000;
  /// Special tokens, given ids 0..k-1 in this order; never split and never learned from.
  std::vector<std::string> special_tokens;
  /// BOS / EOS token strings (added to special_tokens when missing); empty for none. They go
  /// into tokenizer_config.json (bos_token, eos_token, add_bos_token = !bos_token.empty()).
  std::string bos_token;
  std::string eos_token;
  /// A pair must occur at least this often (weighted by word counts) to be merged.
  int64_t min_frequency = 2;
};

struct BpeTrainResult {
  std::string tokenizer_json;         // HF tokenizer.json text
  std::string tokenizer_config_json;  // tokenizer_config.json text (bos/eos/add_bos_token)
  int32_t vocab_size = 0;             // tokens actually produced (fewer merges when pairs run out)
  int32_t n_merges = 0;
};

/// Learns a byte-level BPE from `texts`. Pre-tokenization: the GPT-2 regex, special-token strings
/// removed first. Each step merges the most frequent adjacent pair, ties broken by the smaller
/// (left id, right id), so the result is deterministic. Cost: O(merges x words containing the
/// pair). Errors: vocab_size too small, duplicate or empty special tokens.
Result<BpeTrainResult> train_bpe(const std::vector<std::string>& texts, const BpeTrainerOptions& opts);

/// Reads a training corpus: a .jsonl file (one object per line, its "text" string field) or any
/// other file as plain text (one document). Errors name the file and line.
Result<std::vector<std::string>> read_training_corpus(const std::string& path);

}  // namespace r1::tok
