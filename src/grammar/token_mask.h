// Grammar -> token masks: which vocabulary tokens a Matcher's state accepts next. The vocabulary
// is sorted by bytes once (TokenTable), so a mask is one pass over it that shares the matcher's
// work across tokens with a common prefix and skips every token under a refused prefix; masks
// are cached per grammar state (MaskCache), since JSON output revisits the same states (inside a
// string, between values) over and over.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "grammar/grammar.h"

namespace r1::grammar {

/// A bit per token id: bit i of word i / 64.
using TokenMask = std::vector<uint64_t>;
inline bool mask_test(const TokenMask& m, int32_t id) {
  return (m[static_cast<size_t>(id) >> 6] >> (id & 63)) & 1u;
}

/// The vocabulary as grammars see it. Immutable; share one per tokenizer.
class TokenTable {
 public:
  /// bytes[id]: the token's raw bytes; excluded[id]: never allowed by a grammar (special and
  /// control tokens, EOS included: the constraint decides EOS itself). Empty tokens are excluded.
  /// Cost: a sort of the vocabulary (~0.1 s for 150K tokens).
  TokenTable(std::vector<std::string> bytes, const std::vector<bool>& excluded);
  int32_t size() const { return static_cast<int32_t>(bytes_.size()); }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  bool excluded(int32_t id) const { return excluded_[static_cast<size_t>(id)]; }

  /// Sets in `out` (resized to size() bits, cleared first) the tokens whose bytes `m` accepts
  /// from its current state; `m` is left as it was. Cost: one matcher step per distinct prefix
  /// under an accepted prefix (worst case the vocabulary's total bytes, typically far less).
  void compute_mask(Matcher& m, TokenMask& out) const;

 private:
  std::vector<std::string> bytes_;
  std::vector<bool> excluded_;
  std::vector<int32_t> order_;  // allowed-capable ids sorted by bytes
  std::vector<int32_t> lcp_;    // lcp_[i]: common prefix length of order_[i-1] and order_[i]
};

/// Masks by Matcher::key() for one grammar; thread-safe. Bounded: cleared when full.
class MaskCache {
 public:
  explicit MaskCache(size_t max_entries = 2048) : max_entries_(max_entries) {}
  /// The mask of `m`'s state, computed with `table` on a miss.
  std::shared_ptr<const TokenMask> get(Matcher& m, const TokenTable& table);
  size_t hits() const { return hits_; }
  size_t misses() const { return misses_; }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, std::shared_ptr<const TokenMask>> map_;
  size_t max_entries_;
  size_t hits_ = 0, misses_ = 0;
};

/// A parsed grammar with its mask cache: what requests with the same grammar share.
struct CompiledGrammar {
  std::shared_ptr<const Grammar> grammar;
  MaskCache masks;
};

}  // namespace r1::grammar
