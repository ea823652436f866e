// Pretraining data: a corpus tokenized into one packed stream (documents joined with EOS), cut
// into windows of seq_len + 1 tokens, visited in a seeded shuffled order per epoch. The sample at
// global index k is a pure function of (seed, k), so resuming at step s needs no saved state.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/result.h"
#include "tokenizer/tokenizer.h"

namespace r1::train {

/// Reads `path` and tokenizes its documents, each followed by `eos` (when >= 0). Formats:
///  - *.jsonl: one JSON object per line with a string field "text" (blank lines skipped);
///  - anything else: UTF-8 text, one document per file.
/// Errors: unreadable file; JSONL line that is not an object with a string "text" (names the
/// file and line number); an empty corpus.
Result<std::vector<int32_t>> load_corpus(const std::string& path, const tok::Tokenizer& tok,
                                         int32_t eos);

class PackedDataset {
 public:
  /// Windows start at multiples of seq_len; needs at least seq_len + 1 tokens (checked by make).
  /// The last `val_windows` windows are held out for validation (fewer when the corpus is small:
  /// at least one training window is kept).
  static Result<PackedDataset> make(std::vector<int32_t> stream, int64_t seq_len, uint64_t seed,
                                    int64_t val_windows = 0);
  int64_t n_windows() const { return n_windows_; }  // training windows
  int64_t n_val() const { return n_val_; }
  /// Held-out window i < n_val(): inputs and targets as sample().
  void val_sample(int64_t i, std::vector<int32_t>& inputs, std::vector<int32_t>& targets) const;
  int64_t seq_len() const { return seq_len_; }
  /// Sample k: inputs [seq_len] and next-token targets [seq_len] of window perm_epoch[k % n].
  void sample(int64_t k, std::vector<int32_t>& inputs, std::vector<int32_t>& targets);

 private:
  std::vector<int32_t> stream_;
  int64_t seq_len_ = 0, n_windows_ = 0, n_val_ = 0;
  uint64_t seed_ = 0;
  int64_t epoch_ = -1;
  std::vector<int64_t> perm_;
};

}  // namespace r1::train
