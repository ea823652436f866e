// Internal representation shared by the tokenizer loaders (HF json, GGUF), the encoder and the
// decoder. Private to src/tokenizer: other folders use tokenizer.h only.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/pretokenizer.h"
#include "tokenizer/tokenizer.h"

namespace r1::tok {

/// A token matched in the raw text before pre-tokenization (HF AddedToken).
struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
  bool normalized = false;
  bool single_word = false;
};

/// Transparent string hash so maps keyed by std::string accept string_view lookups.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using StringIdMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

/// Open-addressing hash table (left id, right id) -> (merge rank, merged id).
class MergeTable {
 public:
  struct Entry {
    uint64_t key = ~uint64_t{0};
    int32_t rank = 0;
    int32_t id = 0;
  };
  void reserve(size_t n);
  /// Inserts a merge; returns false when the pair is already present (the first rank wins).
  bool insert(int32_t a, int32_t b, int32_t rank, int32_t id);
  /// The entry for (a, b), or nullptr.
  const Entry* find(int32_t a, int32_t b) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = make_key(a, b);
    size_t i = hash(key) & mask_;
    while (true) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == ~uint64_t{0}) return nullptr;
      i = (i + 1) & mask_;
    }
  }
  size_t size() const { return size_; }

 private:
  static uint64_t make_key(int32_t a, int32_t b) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(a)) << 32) | static_cast<uint32_t>(b);
  }
  static size_t hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return static_cast<size_t>(k);
  }
  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

/// Byte trie over added-token contents for leftmost-longest matching.
class AddedTokenTrie {
 public:
  void add(std::string_view s, int32_t added_index);
  bool empty() const { return nodes_.size() <= 1; }
  /// Longest token starting at text[pos]: returns its added_index and sets *end, or -1.
  int32_t longest_at(std::string_view text, size_t pos, size_t* end) const;
  bool may_start(uint8_t b) const { return first_[b]; }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> next;
    int32_t token = -1;
  };
  std::vector<Node> nodes_{1};
  std::array<bool, 256> first_{};
};

/// Thread-safe cache word bytes -> ids for the BPE merge step.
class WordCache {
 public:
  bool lookup(std::string_view word, std::vector<int32_t>& out) const;
  void insert(std::string_view word, const int32_t* ids, size_t n) const;

 private:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxPerShard = 1 << 15;
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<int32_t>, StringHash, std::equal_to<>> map;
  };
  mutable std::array<Shard, kShards> shards_;
};

enum class ModelKind { ByteLevelBpe, SentencePiece };

/// Everything a loaded tokenizer knows. Filled by a loader, then finalize() builds the derived
/// tables; afterwards immutable except for the word cache.
class TokenizerImpl {
 public:
  ModelKind kind = ModelKind::ByteLevelBpe;

  // Vocabulary (model tokens and added tokens), indexed by id.
  std::vector<std::string> id_text;   // as stored: "Ġthe", "<|im_end|>", "▁the", "<0x0A>"
  std::vector<std::string> id_bytes;  // decoded bytes (finalize)
  std::vector<uint8_t> id_special;    // 1 for special/control tokens
  StringIdMap model_text_to_id;       // model vocab only (not added tokens)
  StringIdMap added_text_to_id;

  // Byte-level BPE.
  MergeTable merges;
  std::array<int32_t, 256> byte_id{};  // token of each single byte (byte-level char or <0xNN>)
  bool ignore_merges = false;          // HF BPE ignore_merges: a word found in the vocab is one token
  StringIdMap model_bytes_to_id;       // decoded bytes -> model id (finalize; for ignore_merges)

  // SentencePiece (GGUF "llama").
  std::vector<float> scores;
  bool add_space_prefix = true;
  bool byte_fallback = true;

  // Text processing.
  std::vector<AddedToken> added;
  bool nfc = false;
  PreTokenizer pre;

  // Special ids and defaults.
  int32_t bos = -1;
  int32_t eos = -1;
  std::vector<int32_t> eos_list;
  bool add_bos = false;

  /// Builds id_bytes, tries and lookup tables; checks that every byte has a token.
  Result<void> finalize();

  /// Appends the ids of `text` (the whole pipeline: added tokens, normalizer, pre-tokenizer, model).
  void encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;

  /// Appends the ids of one pre-tokenized word (byte-level BPE).
  void bpe_word(std::string_view word, std::vector<int32_t>& out) const;

  /// Appends the ids of one text fragment with SentencePiece BPE (llama.cpp llm_tokenizer_spm).
  void spm_fragment(std::string_view text, std::vector<int32_t>& out) const;

 private:
  void encode_text_segment(std::string_view text, bool parse_special, std::vector<int32_t>& out) const;
  void encode_model(std::string_view text, std::vector<int32_t>& out) const;

  AddedTokenTrie raw_trie_;         // added tokens with normalized == false
  AddedTokenTrie normalized_trie_;  // normalized == true, matched after normalization
  WordCache cache_;
};

/// Appends `cp` to `out` in the byte-level alphabet for every byte of `bytes` (GPT-2 mapping).
std::string bytes_to_byte_level(std::string_view bytes);

/// Decodes a byte-level token string back to bytes; returns false (out untouched) when a
/// character is outside the byte-level alphabet.
bool byte_level_to_bytes(std::string_view token, std::string& out);

}  // namespace r1::tok
