// SentencePiece-style BPE by score, as llama.cpp's llm_tokenizer_spm (GGUF tokenizer.ggml.model
// "llama"): the text gets a leading space, spaces become U+2581, characters are merged pairwise,
// always the adjacent pair whose concatenation is the highest-scoring vocabulary entry (leftmost
// on ties); characters left without a token fall back to <0xNN> byte tokens.
#include <queue>

#include "tokenizer/tokenizer_impl.h"

namespace r1::tok {

namespace {

constexpr std::string_view kSpmSpace = "\xE2\x96\x81";  // U+2581 LOWER ONE EIGHTH BLOCK

// Byte length llama.cpp assigns to a UTF-8 lead byte (unicode_len_utf8): by the high nibble,
// continuation and invalid bytes count as single bytes.
size_t utf8_len_by_lead(uint8_t b) {
  static constexpr uint8_t kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLen[b >> 4];
}

}  // namespace

void TokenizerImpl::spm_fragment(std::string_view fragment, std::vector<int32_t>& out) const {
  std::string text;
  text.reserve(fragment.size() * 2 + 3);
  if (add_space_prefix) text += kSpmSpace;
  for (char c : fragment) {
    if (c == ' ') {
      text += kSpmSpace;
    } else {
      text += c;
    }
  }
  if (text.empty()) return;

  struct Symbol {
    int32_t prev, next;
    uint32_t begin, len;  // bytes of `text`
  };
  std::vector<Symbol> sym;
  for (size_t off = 0; off < text.size();) {
    const size_t len = std::min(utf8_len_by_lead(static_cast<uint8_t>(text[off])), text.size() - off);
    const auto idx = static_cast<int32_t>(sym.size());
    sym.push_back({idx - 1, off + len == text.size() ? -1 : idx + 1, static_cast<uint32_t>(off),
                   static_cast<uint32_t>(len)});
    off += len;
  }

  struct Bigram {
    int32_t left, right;
    float score;
    size_t size;
  };
  // Highest score first; on equal scores the leftmost pair.
  auto worse = [](const Bigram& l, const Bigram& r) {
    return l.score < r.score || (l.score == r.score && l.left > r.left);
  };
  std::priority_queue<Bigram, std::vector<Bigram>, decltype(worse)> queue(worse);
  auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const std::string_view s(text.data() + sym[left].begin, sym[left].len + sym[right].len);
    auto it = model_text_to_id.find(s);
    if (it == model_text_to_id.end()) return;
    const int32_t id = it->second;
    const float score = id < static_cast<int32_t>(scores.size()) ? scores[id] : 0.0f;
    queue.push({left, right, score, s.size()});
  };
  for (int32_t i = 1; i < static_cast<int32_t>(sym.size()); ++i) try_add(i - 1, i);

  while (!queue.empty()) {
    const Bigram b = queue.top();
    queue.pop();
    Symbol& l = sym[b.left];
    Symbol& r = sym[b.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != b.size) continue;  // stale
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = b.left;
    try_add(l.prev, b.left);
    try_add(b.left, l.next);
  }

  for (int32_t i = 0; i != -1; i = sym[i].next) {
    const std::string_view s(text.data() + sym[i].begin, sym[i].len);
    auto it = model_text_to_id.find(s);
    if (it != model_text_to_id.end()) {
      out.push_back(it->second);
      continue;
    }
    for (char c : s) {  // byte fallback
      const int32_t id = byte_id[static_cast<uint8_t>(c)];
      if (id >= 0) out.push_back(id);
    }
  }
}

}  // namespace r1::tok
