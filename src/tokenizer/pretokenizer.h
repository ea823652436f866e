// Pre-tokenization: splitting text into the "words" that BPE then merges, following the
// Hugging Face `tokenizers` pre-tokenizers (Split, ByteLevel, Digits) and their
// SplitDelimiterBehavior rules. Regexes run on PCRE2 (UTF + UCP, JIT) after translating the few
// constructs where Oniguruma (HF's engine) and PCRE2 disagree.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace r1::tok {

/// A compiled PCRE2 regex with Oniguruma-compatible semantics for HF patterns.
/// Thread-safe: matching allocates its own match data.
class Regex {
 public:
  /// Compiles an HF/Oniguruma pattern. Errors: PCRE2 compile error (message and offset).
  static Result<std::unique_ptr<Regex>> compile(const std::string& hf_pattern);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  /// Appends to `out` the [begin, end) byte offsets of every non-overlapping, non-empty match in
  /// `text`, left to right (like Rust's find_iter). Invalid UTF-8 never matches.
  void find_all(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& out) const;

  /// The translated PCRE2 pattern (for tests and error messages).
  const std::string& pcre_pattern() const { return pattern_; }

 private:
  Regex() = default;
  std::string pattern_;
  void* code_ = nullptr;        // pcre2_code_8*
  void* plain_code_ = nullptr;  // the pattern without the newer-Unicode ranges (faster), or null
};

/// Translates an HF regex into PCRE2 syntax: \s and \S become the explicit whitespace set of
/// the reference implementation (see kWhiteSpaceClassBody in pretokenizer.cpp); with
/// `newer_unicode`, each general-category escape \p{X} also matches the code points that Unicode
/// 15-17 assigned to X (PCRE2 10.42 has Unicode 14.0 tables).
std::string translate_hf_regex(std::string_view pattern, bool newer_unicode = true);

/// Whether `text` holds a code point that Unicode 15-17 assigned (unassigned in Unicode 14.0).
bool has_newer_unicode(std::string_view text);

/// How a Split pre-tokenizer treats the delimiters it finds (HF SplitDelimiterBehavior).
enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

/// One pre-tokenizer step.
struct PreTokenizerStep {
  enum class Kind { Split, ByteLevel } kind = Kind::Split;
  std::shared_ptr<const Regex> regex;  // Split; ByteLevel when use_regex
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  bool add_prefix_space = false;  // ByteLevel only
};

/// A piece of text being pre-tokenized: a view into the input or into an owned buffer.
using Piece = std::string_view;

/// A sequence of pre-tokenizer steps applied one after another to every piece.
class PreTokenizer {
 public:
  PreTokenizer() = default;
  explicit PreTokenizer(std::vector<PreTokenizerStep> steps) : steps_(std::move(steps)) {}

  /// Splits `text` into pieces (in order, none empty) and appends them to `out`. Pieces view
  /// `text` or strings appended to `owned` (a prefix space added by ByteLevel); `owned` must stay
  /// alive and unmodified (other than further push_backs) while the pieces are used.
  void split(std::string_view text, std::vector<Piece>& out, std::vector<std::unique_ptr<std::string>>& owned) const;

  bool empty() const { return steps_.empty(); }
  const std::vector<PreTokenizerStep>& steps() const { return steps_; }

 private:
  std::vector<PreTokenizerStep> steps_;
};

/// The regexes of well-known pre-tokenizers, for GGUF's tokenizer.ggml.pre and the trainer.
inline constexpr const char* kGpt2Regex =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/// Builds the pre-tokenizer llama.cpp uses for a GGUF tokenizer.ggml.pre name ("qwen2",
/// "deepseek-v3", "deepseek-llm", "llama-bpe"/"llama3", "default"/"gpt2", ...). Errors: unknown name.
Result<PreTokenizer> pretokenizer_for_gguf_pre(const std::string& pre);

}  // namespace r1::tok
