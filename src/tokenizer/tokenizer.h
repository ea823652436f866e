// Tokenizer: byte-level BPE (Hugging Face tokenizer.json, GGUF "gpt2") and SentencePiece-style
// BPE (GGUF "llama"), encoding and decoding exactly like the reference implementations
// (HF `tokenizers`, llama.cpp). Immutable after loading; encode/decode are const and thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace r1::io {
class GgufFile;
}

namespace r1::tok {

class TokenizerImpl;  // defined in tokenizer_impl.h (private to src/tokenizer)

/// A loaded vocabulary with its pre-tokenizer, merges and special tokens.
/// Token ids are int32 in [0, vocab_size()).
class Tokenizer {
 public:
  ~Tokenizer();
  Tokenizer(const Tokenizer&) = delete;
  Tokenizer& operator=(const Tokenizer&) = delete;

  /// Loads a Hugging Face tokenizer.json (model type BPE, byte-level). bos/eos/add_bos come from
  /// tokenizer_config.json (and extra eos ids from generation_config.json) in the same folder
  /// when present, else they are -1/false. Cost: ~0.4 s for a 150K vocabulary. Errors: unreadable
  /// file, bad JSON, unsupported model/normalizer/pre_tokenizer type (the message names the field).
  static Result<std::unique_ptr<Tokenizer>> from_tokenizer_json(const std::string& path);

  /// Builds a tokenizer from GGUF metadata: tokenizer.ggml.model "llama" (SentencePiece BPE by
  /// score, byte fallback <0xNN>) or "gpt2" (byte-level BPE with tokenizer.ggml.merges and the
  /// pre-tokenizer named by tokenizer.ggml.pre). Errors: missing keys, unknown model/pre.
  static Result<std::unique_ptr<Tokenizer>> from_gguf(const io::GgufFile& gguf);

  /// `path` is a tokenizer.json file, an HF model directory (tokenizer.json + optional
  /// tokenizer_config.json giving bos_token/eos_token/add_bos_token) or a .gguf file.
  static Result<std::unique_ptr<Tokenizer>> from_path(const std::string& path);

  /// Encodes UTF-8 text (invalid bytes are encoded as their byte tokens). With parse_special,
  /// added-token strings in the text (e.g. "<|im_end|>") become their single ids; otherwise they
  /// are encoded as plain text. add_bos prepends bos_id() when there is one. Cost: O(bytes),
  /// repeated words hit a per-tokenizer cache.
  std::vector<int32_t> encode(std::string_view text, bool add_bos = false,
                              bool parse_special = true) const;

  /// Concatenates the byte-level-decoded pieces of `ids`. Special tokens are written as their
  /// text unless skip_special; out-of-range ids are skipped. Always valid UTF-8: bytes that do not
  /// form characters (ids cutting a character) become U+FFFD, as in HF (from_utf8_lossy). For
  /// SentencePiece vocabularies the leading space of the first piece is dropped (HF/llama.cpp).
  /// Use StreamDecoder for incremental output.
  std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;

  /// Raw bytes of one token (byte-level / byte-fallback decoded, "▁" -> ' ' for SentencePiece);
  /// empty for out-of-range ids.
  std::string token_bytes(int32_t id) const;

  /// The token's vocabulary string as stored (e.g. "Ġthe", "<|im_end|>"); empty if out of range.
  std::string token_text(int32_t id) const;

  /// Number of ids (max id + 1 over vocab and added tokens).
  int32_t vocab_size() const;
  /// Beginning-of-sequence id, -1 if none.
  int32_t bos_id() const;
  /// Primary end-of-sequence id, -1 if none.
  int32_t eos_id() const;
  /// All ids that end generation (eos plus e.g. <|im_end|>, <|eot_id|> when configured); may be empty.
  std::vector<int32_t> eos_ids() const;
  /// True for added tokens marked special (control tokens for GGUF).
  bool is_special(int32_t id) const;
  /// Id of an exact vocabulary or added-token string (e.g. "<think>"), if present.
  std::optional<int32_t> token_id(std::string_view token) const;
  /// Whether a BOS should be prepended by default (tokenizer_config add_bos_token /
  /// GGUF tokenizer.ggml.add_bos_token).
  bool add_bos_default() const;

  /// Implementation access for the loaders and trainer in src/tokenizer (not for other code).
  explicit Tokenizer(std::unique_ptr<TokenizerImpl> impl);
  const TokenizerImpl& impl() const { return *impl_; }

 private:
  std::unique_ptr<TokenizerImpl> impl_;
};

/// Incremental detokenizer: push ids one at a time and get back only complete UTF-8 (an
/// incomplete multi-byte sequence is held until its remaining bytes arrive). Bytes that can never
/// become valid UTF-8 come out as U+FFFD, so every returned string is valid UTF-8. Special tokens
/// are kept as text; no leading space is stripped (pieces are continuations). Not thread-safe;
/// the tokenizer must outlive the decoder.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok);
  /// Appends the token's bytes; returns the newly completed text (may be empty).
  std::string push(int32_t id);
  /// Returns whatever is held back (possibly invalid UTF-8) and resets.
  std::string flush();

 private:
  const Tokenizer* tok_;
  std::string pending_;
};

}  // namespace r1::tok
