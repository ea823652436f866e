// Tokenizer: the encode pipeline (added tokens -> normalizer -> pre-tokenizer -> model), decode,
// StreamDecoder and from_path.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <filesystem>

#include <utf8proc.h>

#include "io/gguf.h"
#include "tokenizer/tokenizer_impl.h"
#include "tokenizer/unicode.h"

namespace r1::tok {

namespace {

// Rust char::is_alphanumeric plus '_' (HF AddedToken single_word boundaries).
bool is_word_char(uint32_t cp) {
  if (cp == '_') return true;
  if (cp < 0x80) return (cp >= '0' && cp <= '9') || ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z');
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
      return true;
    default:
      return false;
  }
}

// Last code point before `end` (or -1), by scanning back over continuation bytes.
int64_t last_cp(std::string_view s, size_t end) {
  if (end == 0) return -1;
  size_t i = end - 1;
  while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80 && end - i < 4) --i;
  uint32_t cp;
  return decode_utf8(s, i, &cp) == static_cast<int>(end - i) ? static_cast<int64_t>(cp) : -1;
}

// Start of the run of whitespace that ends at `end`.
size_t whitespace_start_before(std::string_view s, size_t end) {
  while (end > 0) {
    size_t i = end - 1;
    while (i > 0 && (static_cast<uint8_t>(s[i]) & 0xC0) == 0x80 && end - i < 4) --i;
    uint32_t cp;
    if (decode_utf8(s, i, &cp) != static_cast<int>(end - i) || !is_unicode_whitespace(cp)) break;
    end = i;
  }
  return end;
}

// End of the run of whitespace that starts at `begin`.
size_t whitespace_end_after(std::string_view s, size_t begin) {
  while (begin < s.size()) {
    uint32_t cp;
    const int len = decode_utf8(s, begin, &cp);
    if (len == 0 || !is_unicode_whitespace(cp)) break;
    begin += len;
  }
  return begin;
}

// Splits `text` at added-token matches (HF AddedVocabulary::find_matches: leftmost-longest,
// non-overlapping; a special token is left as text when !parse_special; lstrip/rstrip absorb the
// adjacent whitespace; single_word tokens only match between non-word characters). Calls
// on_text(segment) for the text between matches and on_token(id) for each match.
template <typename OnText, typename OnToken>
void split_added(const AddedTokenTrie& trie, const std::vector<AddedToken>& added, std::string_view text,
                 bool parse_special, OnText&& on_text, OnToken&& on_token) {
  size_t start = 0, pos = 0;
  const size_t n = text.size();
  while (pos < n) {
    if (!trie.may_start(static_cast<uint8_t>(text[pos]))) {
      ++pos;
      continue;
    }
    size_t end = 0;
    const int32_t idx = trie.longest_at(text, pos, &end);
    if (idx < 0) {
      ++pos;
      continue;
    }
    const AddedToken& t = added[idx];
    if (t.special && !parse_special) {
      pos = end;
      continue;
    }
    if (t.single_word) {
      const int64_t before = last_cp(text, pos);
      uint32_t after = 0;
      const bool has_after = end < n && decode_utf8(text, end, &after) > 0;
      if ((before >= 0 && is_word_char(static_cast<uint32_t>(before))) || (has_after && is_word_char(after))) {
        pos = end;
        continue;
      }
    }
    size_t mstart = pos, mend = end;
    if (t.lstrip) mstart = std::max(whitespace_start_before(text, pos), start);
    if (t.rstrip) mend = whitespace_end_after(text, end);
    if (mstart > start) on_text(text.substr(start, mstart - start));
    on_token(t.id);
    start = mend;
    pos = std::max(end, mend);
  }
  if (start < n) on_text(text.substr(start));
}

}  // namespace

void TokenizerImpl::encode(std::string_view text, bool parse_special, std::vector<int32_t>& out) const {
  if (raw_trie_.empty()) {
    encode_text_segment(text, parse_special, out);
    return;
  }
  split_added(
      raw_trie_, added, text, parse_special,
      [&](std::string_view seg) { encode_text_segment(seg, parse_special, out); },
      [&](int32_t id) { out.push_back(id); });
}

void TokenizerImpl::encode_text_segment(std::string_view text, bool parse_special,
                                        std::vector<int32_t>& out) const {
  std::string normalized;
  if (nfc) {
    normalized = tok::nfc(text);
    text = normalized;
  }
  if (normalized_trie_.empty()) {
    encode_model(text, out);
    return;
  }
  split_added(
      normalized_trie_, added, text, parse_special, [&](std::string_view seg) { encode_model(seg, out); },
      [&](int32_t id) { out.push_back(id); });
}

void TokenizerImpl::encode_model(std::string_view text, std::vector<int32_t>& out) const {
  if (text.empty()) return;
  if (kind == ModelKind::SentencePiece) {
    spm_fragment(text, out);
    return;
  }
  thread_local std::vector<Piece> pieces;
  std::vector<std::unique_ptr<std::string>> owned;
  pieces.clear();
  pre.split(text, pieces, owned);
  for (Piece p : pieces) bpe_word(p, out);
}

Result<void> TokenizerImpl::finalize() {
  const size_t n = id_text.size();
  id_special.resize(n, 0);
  id_bytes.assign(n, std::string());
  std::vector<uint8_t> is_added(n, 0);
  for (const AddedToken& t : added) {
    if (t.id >= 0 && static_cast<size_t>(t.id) < n) is_added[t.id] = 1;
  }
  for (size_t id = 0; id < n; ++id) {
    const std::string& t = id_text[id];
    if (kind == ModelKind::ByteLevelBpe) {
      // Added tokens decode to their content (as transformers.js); model tokens through the
      // byte-level alphabet, falling back to the raw text like HF's ByteLevel decoder.
      if (is_added[id] || !byte_level_to_bytes(t, id_bytes[id])) id_bytes[id] = t;
    } else {
      id_bytes[id] = t;  // SentencePiece pieces are patched by the GGUF loader
    }
  }
  if (kind == ModelKind::ByteLevelBpe) {
    const auto& table = byte_to_codepoint();
    for (int b = 0; b < 256; ++b) {
      std::string s;
      append_utf8(table[b], s);
      auto it = model_text_to_id.find(s);
      byte_id[b] = it == model_text_to_id.end() ? -1 : it->second;
    }
    if (ignore_merges) {
      model_bytes_to_id.clear();
      for (const auto& [text, id] : model_text_to_id) model_bytes_to_id.emplace(id_bytes[id], id);
    }
  }
  raw_trie_ = AddedTokenTrie();
  normalized_trie_ = AddedTokenTrie();
  for (size_t i = 0; i < added.size(); ++i) {
    const AddedToken& t = added[i];
    if (t.normalized && nfc) {
      normalized_trie_.add(tok::nfc(t.content), static_cast<int32_t>(i));
    } else if (t.normalized) {
      normalized_trie_.add(t.content, static_cast<int32_t>(i));
    } else {
      raw_trie_.add(t.content, static_cast<int32_t>(i));
    }
    if (t.id >= 0 && static_cast<size_t>(t.id) < n && t.special) id_special[t.id] = 1;
    if (t.id >= 0) added_text_to_id.emplace(t.content, t.id);
  }
  if (eos >= 0 && std::find(eos_list.begin(), eos_list.end(), eos) == eos_list.end()) {
    eos_list.insert(eos_list.begin(), eos);
  }
  return ok_result();
}

// ---------------------------------------------------------------- Tokenizer

Tokenizer::Tokenizer(std::unique_ptr<TokenizerImpl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_bos, bool parse_special) const {
  std::vector<int32_t> out;
  out.reserve(text.size() / 3 + 4);
  if (add_bos && impl_->bos >= 0) out.push_back(impl_->bos);
  impl_->encode(text, parse_special, out);
  return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string raw;
  const auto n = static_cast<int32_t>(impl_->id_text.size());
  for (int32_t id : ids) {
    if (id < 0 || id >= n) continue;
    if (skip_special && impl_->id_special[id]) continue;
    raw += impl_->id_bytes[id];
  }
  // The HF Llama decoder (Strip) and llama.cpp drop the space SentencePiece put in front.
  if (impl_->kind == ModelKind::SentencePiece && impl_->add_space_prefix && !raw.empty() && raw[0] == ' ') {
    raw.erase(0, 1);
  }
  return utf8_lossy(raw);
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(impl_->id_bytes.size())) return {};
  return impl_->id_bytes[id];
}

std::string Tokenizer::token_text(int32_t id) const {
  if (id < 0 || id >= static_cast<int32_t>(impl_->id_text.size())) return {};
  return impl_->id_text[id];
}

int32_t Tokenizer::vocab_size() const { return static_cast<int32_t>(impl_->id_text.size()); }
int32_t Tokenizer::bos_id() const { return impl_->bos; }
int32_t Tokenizer::eos_id() const { return impl_->eos; }
std::vector<int32_t> Tokenizer::eos_ids() const { return impl_->eos_list; }
bool Tokenizer::add_bos_default() const { return impl_->add_bos; }

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < static_cast<int32_t>(impl_->id_special.size()) && impl_->id_special[id] != 0;
}

std::optional<int32_t> Tokenizer::token_id(std::string_view token) const {
  if (auto it = impl_->added_text_to_id.find(token); it != impl_->added_text_to_id.end()) return it->second;
  if (auto it = impl_->model_text_to_id.find(token); it != impl_->model_text_to_id.end()) return it->second;
  return std::nullopt;
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::from_path(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    const fs::path dir(path);
    if (fs::exists(dir / "tokenizer.json", ec)) return from_tokenizer_json((dir / "tokenizer.json").string());
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() == ".gguf") return from_path(entry.path().string());
    }
    return make_error("{}: no tokenizer.json (or .gguf) in this directory", path);
  }
  if (!fs::exists(path, ec)) return make_error("{}: no such file or directory", path);
  if (fs::path(path).extension() == ".gguf") {
    R1_ASSIGN_OR_RETURN(gguf, io::GgufFile::open(path));
    return from_gguf(gguf);
  }
  return from_tokenizer_json(path);
}

// ---------------------------------------------------------------- StreamDecoder

StreamDecoder::StreamDecoder(const Tokenizer& tok) : tok_(&tok) {}

std::string StreamDecoder::push(int32_t id) {
  pending_ += tok_->token_bytes(id);
  const size_t k = utf8_complete_prefix(pending_);
  if (k == 0) return {};
  std::string out = utf8_lossy(std::string_view(pending_).substr(0, k));
  pending_.erase(0, k);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8_lossy(pending_);
  pending_.clear();
  return out;
}

}  // namespace r1::tok
