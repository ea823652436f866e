// Pre-tokenizers on PCRE2 (see pretokenizer.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include <cstdio>
#include <vector>

#include "tokenizer/unicode.h"

namespace r1::tok {

namespace {

// What \s matches: Unicode White_Space, as in HF's Rust tokenizers (Oniguruma's \s) and in the
// official JavaScript port (@huggingface/tokenizers rewrites \s to \p{White_Space}). It holds
// U+0085 (NEL) and not U+FEFF (BOM). Plain JavaScript \s (used by the transformers.js-derived port
// that produced tokenizers/cases-sample) is the reverse on exactly those two code points; the two
// disagree only on texts where NEL or BOM sit next to whitespace or punctuation (held-out check
// against @huggingface/tokenizers 0.2.0: "a \u0085 b", "</think> \ufeff;"). PCRE2's own UCP \s would
// add U+180E.
constexpr const char* kWhiteSpaceClassBody =
    "\\t-\\r \\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}";

// Code points that PCRE2 10.42 (Debian 12; Unicode 14.0 tables) sees as unassigned (Cn) but that
// newer Unicode assigns, by general category: computed from the Unicode 17.0 tables of Node.js 20
// (V8/ICU, which the JavaScript tokenizer ports use) against Unicode 14.0 (Python 3.11's
// unicodedata, = PCRE2 10.42). Current HF tokenizers builds use Oniguruma 6.9.9+ (Unicode 15.1/16.0)
// and so also treat e.g. U+1FAE8 (an emoji of Unicode 15) as \p{So} and U+11F04 (Kawi, 15.0) as
// \p{Lo}; without these ranges PCRE2 would split such text differently (e.g. " \U00011F04" in the
// DeepSeek-V3 regex). Only code points new in Unicode 17.0 (2025) may differ from HF Rust builds on
// Unicode 16.0. translate_hf_regex() adds them to \p{X} for each general category X.
struct NewRanges {
  const char* category;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
};
const std::vector<NewRanges>& new_category_ranges() {
  static const std::vector<NewRanges> k = {
    {"Cf", {{0x13439, 0x1343F}}},
    {"Ll", {{0x1C8A, 0x1C8A}, {0xA7CD, 0xA7CD}, {0xA7CF, 0xA7CF}, {0xA7DB, 0xA7DB}, {0x10D70, 0x10D85},
               {0x16EBB, 0x16ED3}, {0x1DF25, 0x1DF2A}}},
    {"Lm", {{0xA7F1, 0xA7F1}, {0x10D4E, 0x10D4E}, {0x10D6F, 0x10D6F}, {0x10EC5, 0x10EC5}, {0x11DD9, 0x11DD9},
               {0x16D40, 0x16D42}, {0x16D6B, 0x16D6C}, {0x16FF2, 0x16FF3}, {0x1E030, 0x1E06D},
               {0x1E4EB, 0x1E4EB}, {0x1E6FF, 0x1E6FF}}},
    {"Lo", {{0x88F, 0x88F}, {0xC5C, 0xC5C}, {0xCDC, 0xCDC}, {0x105C0, 0x105F3}, {0x10940, 0x10959},
               {0x10D4A, 0x10D4D}, {0x10D4F, 0x10D4F}, {0x10EC2, 0x10EC4}, {0x10EC6, 0x10EC7},
               {0x1123F, 0x11240}, {0x11380, 0x11389}, {0x1138B, 0x1138B}, {0x1138E, 0x1138E},
               {0x11390, 0x113B5}, {0x113B7, 0x113B7}, {0x113D1, 0x113D1}, {0x113D3, 0x113D3},
               {0x11BC0, 0x11BE0}, {0x11DB0, 0x11DD8}, {0x11DDA, 0x11DDB}, {0x11F02, 0x11F02},
               {0x11F04, 0x11F10}, {0x11F12, 0x11F33}, {0x1342F, 0x1342F}, {0x13441, 0x13446},
               {0x13460, 0x143FA}, {0x16100, 0x1611D}, {0x16D43, 0x16D6A}, {0x187F8, 0x187FF},
               {0x18CFF, 0x18CFF}, {0x18D09, 0x18D1E}, {0x18D80, 0x18DF2}, {0x1B132, 0x1B132},
               {0x1B155, 0x1B155}, {0x1E4D0, 0x1E4EA}, {0x1E5D0, 0x1E5ED}, {0x1E5F0, 0x1E5F0},
               {0x1E6C0, 0x1E6DE}, {0x1E6E0, 0x1E6E2}, {0x1E6E4, 0x1E6E5}, {0x1E6E7, 0x1E6ED},
               {0x1E6F0, 0x1E6F4}, {0x1E6FE, 0x1E6FE}, {0x2B739, 0x2B73F}, {0x2CEA2, 0x2CEAD},
               {0x2EBF0, 0x2EE5D}, {0x31350, 0x33479}}},
    {"Lu", {{0x1C89, 0x1C89}, {0xA7CB, 0xA7CC}, {0xA7CE, 0xA7CE}, {0xA7D2, 0xA7D2}, {0xA7D4, 0xA7D4},
               {0xA7DA, 0xA7DA}, {0xA7DC, 0xA7DC}, {0x10D50, 0x10D65}, {0x16EA0, 0x16EB8}}},
    {"Mc", {{0xCF3, 0xCF3}, {0x113B8, 0x113BA}, {0x113C2, 0x113C2}, {0x113C5, 0x113C5}, {0x113C7, 0x113CA},
               {0x113CC, 0x113CD}, {0x113CF, 0x113CF}, {0x11B61, 0x11B61}, {0x11B65, 0x11B65},
               {0x11B67, 0x11B67}, {0x11F03, 0x11F03}, {0x11F34, 0x11F35}, {0x11F3E, 0x11F3F},
               {0x11F41, 0x11F41}, {0x1612A, 0x1612C}}},
    {"Mn", {{0x897, 0x897}, {0xECE, 0xECE}, {0x1ACF, 0x1ADD}, {0x1AE0, 0x1AEB}, {0x10D69, 0x10D6D},
               {0x10EFA, 0x10EFF}, {0x11241, 0x11241}, {0x113BB, 0x113C0}, {0x113CE, 0x113CE},
               {0x113D0, 0x113D0}, {0x113D2, 0x113D2}, {0x113E1, 0x113E2}, {0x11B60, 0x11B60},
               {0x11B62, 0x11B64}, {0x11B66, 0x11B66}, {0x11F00, 0x11F01}, {0x11F36, 0x11F3A},
               {0x11F40, 0x11F40}, {0x11F42, 0x11F42}, {0x11F5A, 0x11F5A}, {0x13440, 0x13440},
               {0x13447, 0x13455}, {0x1611E, 0x16129}, {0x1612D, 0x1612F}, {0x1E08F, 0x1E08F},
               {0x1E4EC, 0x1E4EF}, {0x1E5EE, 0x1E5EF}, {0x1E6E3, 0x1E6E3}, {0x1E6E6, 0x1E6E6},
               {0x1E6EE, 0x1E6EF}, {0x1E6F5, 0x1E6F5}}},
    {"Nd", {{0x10D40, 0x10D49}, {0x116D0, 0x116E3}, {0x11BF0, 0x11BF9}, {0x11DE0, 0x11DE9},
               {0x11F50, 0x11F59}, {0x16130, 0x16139}, {0x16D70, 0x16D79}, {0x1CCF0, 0x1CCF9},
               {0x1E4F0, 0x1E4F9}, {0x1E5F1, 0x1E5FA}}},
    {"Nl", {{0x16FF4, 0x16FF6}}},
    {"No", {{0x1D2C0, 0x1D2D3}}},
    {"Pd", {{0x10D6E, 0x10D6E}}},
    {"Po", {{0x1B4E, 0x1B4F}, {0x1B7F, 0x1B7F}, {0x10ED0, 0x10ED0}, {0x113D4, 0x113D5}, {0x113D7, 0x113D8},
               {0x11B00, 0x11B09}, {0x11BE1, 0x11BE1}, {0x11F43, 0x11F4F}, {0x16D6D, 0x16D6F},
               {0x1E5FF, 0x1E5FF}}},
    {"Sc", {{0x20C1, 0x20C1}}},
    {"Sm", {{0x10D8E, 0x10D8F}, {0x1CEF0, 0x1CEF0}, {0x1F8D0, 0x1F8D8}}},
    {"So", {{0x2427, 0x2429}, {0x2B96, 0x2B96}, {0x2FFC, 0x2FFF}, {0x31E4, 0x31E5}, {0x31EF, 0x31EF},
               {0xFBC3, 0xFBD2}, {0xFD90, 0xFD91}, {0xFDC8, 0xFDCE}, {0x10ED1, 0x10ED8}, {0x1CC00, 0x1CCEF},
               {0x1CCFA, 0x1CCFC}, {0x1CD00, 0x1CEB3}, {0x1CEBA, 0x1CED0}, {0x1CEE0, 0x1CEEF},
               {0x1F6D8, 0x1F6D8}, {0x1F6DC, 0x1F6DC}, {0x1F774, 0x1F77F}, {0x1F7D9, 0x1F7D9},
               {0x1F8B2, 0x1F8BB}, {0x1F8C0, 0x1F8C1}, {0x1FA54, 0x1FA57}, {0x1FA75, 0x1FA77},
               {0x1FA87, 0x1FA8A}, {0x1FA8E, 0x1FA8F}, {0x1FAAD, 0x1FAAF}, {0x1FABB, 0x1FABF},
               {0x1FAC6, 0x1FAC6}, {0x1FAC8, 0x1FAC8}, {0x1FACD, 0x1FACF}, {0x1FADA, 0x1FADC},
               {0x1FADF, 0x1FADF}, {0x1FAE8, 0x1FAEA}, {0x1FAEF, 0x1FAEF}, {0x1FAF7, 0x1FAF8},
               {0x1FBCB, 0x1FBEF}, {0x1FBFA, 0x1FBFA}}},
  };
  return k;
}

// The extra ranges for a general-category name ("L", "Lo", ...) as PCRE2 class items; empty for
// other property names (scripts, ...).
std::string extra_class_items(std::string_view name) {
  if (name.empty() || name.size() > 2) return {};
  std::string out;
  char buf[40];
  for (const auto& nr : new_category_ranges()) {
    const std::string_view cat = nr.category;
    if (cat.substr(0, name.size()) != name) continue;
    for (const auto& [a, b] : nr.ranges) {
      if (a == b) {
        std::snprintf(buf, sizeof buf, "\\x{%X}", a);
      } else {
        std::snprintf(buf, sizeof buf, "\\x{%X}-\\x{%X}", a, b);
      }
      out += buf;
    }
  }
  return out;
}

// Per-thread PCRE2 scratch: match data (we only read the whole-match offsets) and a JIT stack
// larger than the 32 KiB default so long pieces cannot exhaust it.
struct MatchScratch {
  pcre2_match_data* md = nullptr;
  pcre2_match_context* mctx = nullptr;
  pcre2_jit_stack* jit_stack = nullptr;
  MatchScratch() {
    md = pcre2_match_data_create(1, nullptr);
    mctx = pcre2_match_context_create(nullptr);
    jit_stack = pcre2_jit_stack_create(64 * 1024, 8 * 1024 * 1024, nullptr);
    if (mctx && jit_stack) pcre2_jit_stack_assign(mctx, nullptr, jit_stack);
  }
  ~MatchScratch() {
    pcre2_match_data_free(md);
    pcre2_match_context_free(mctx);
    pcre2_jit_stack_free(jit_stack);
  }
};

MatchScratch& scratch() {
  thread_local MatchScratch s;
  return s;
}

}  // namespace

bool has_newer_unicode(std::string_view text) {
  // One bit per code point, built once from new_category_ranges().
  static const std::vector<uint64_t> bits = [] {
    std::vector<uint64_t> b(0x110000 / 64, 0);
    for (const auto& nr : new_category_ranges()) {
      for (const auto& [lo, hi] : nr.ranges) {
        for (uint32_t c = lo; c <= hi; ++c) b[c >> 6] |= uint64_t{1} << (c & 63);
      }
    }
    return b;
  }();
  for (size_t i = 0; i < text.size();) {
    if (static_cast<uint8_t>(text[i]) < 0x80) {
      ++i;
      continue;
    }
    uint32_t cp;
    const int len = decode_utf8(text, i, &cp);
    if (len <= 0) {
      ++i;
      continue;
    }
    if (bits[cp >> 6] >> (cp & 63) & 1) return true;
    i += static_cast<size_t>(len);
  }
  return false;
}

std::string translate_hf_regex(std::string_view p, bool newer_unicode) {
  std::string out;
  out.reserve(p.size() + 64);
  bool in_class = false;
  for (size_t i = 0; i < p.size(); ++i) {
    const char c = p[i];
    if (c == '\\' && i + 1 < p.size()) {
      const char n = p[i + 1];
      if (n == 's' || n == 'S') {
        if (in_class) {
          if (n == 's') {
            out += kWhiteSpaceClassBody;
          } else {
            out += "\\S";  // a negated set inside a class: rare, keep PCRE2's meaning
          }
        } else {
          out += n == 's' ? "[" : "[^";
          out += kWhiteSpaceClassBody;
          out += "]";
        }
      } else if ((n == 'p' || n == 'P') && i + 2 < p.size()) {
        // \pX or \p{Name}: add the code points newer Unicode assigns to a general category.
        size_t end;  // one past the property escape
        std::string_view name;
        if (p[i + 2] == '{') {
          const size_t close = p.find('}', i + 3);
          end = close == std::string_view::npos ? p.size() : close + 1;
          name = close == std::string_view::npos ? std::string_view() : p.substr(i + 3, close - i - 3);
        } else {
          end = i + 3;
          name = p.substr(i + 2, 1);
        }
        const std::string_view esc = p.substr(i, end - i);
        const std::string extra = newer_unicode ? extra_class_items(name) : std::string();
        if (extra.empty() || (in_class && n == 'P')) {
          out.append(esc);  // (a complement inside a class cannot take the extra ranges out)
        } else if (in_class) {
          out.append("\\p{").append(name).append("}").append(extra);
        } else {
          out.append(n == 'p' ? "[\\p{" : "[^\\p{").append(name).append("}").append(extra).append("]");
        }
        i = end - 1;
        continue;
      } else {
        out += c;
        out += n;
      }
      ++i;
      continue;
    }
    if (!in_class && c == '[') {
      in_class = true;
      out += c;
      // A ']' or '^]' right after '[' is a literal in both syntaxes.
      if (i + 1 < p.size() && p[i + 1] == '^') {
        out += '^';
        ++i;
      }
      if (i + 1 < p.size() && p[i + 1] == ']') {
        out += ']';
        ++i;
      }
      continue;
    }
    if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
      const size_t close = p.find(":]", i + 2);
      if (close != std::string_view::npos) {  // POSIX class [:alpha:]
        out.append(p.substr(i, close + 2 - i));
        i = close + 1;
        continue;
      }
    }
    if (in_class && c == ']') in_class = false;
    out += c;
  }
  return out;
}

Result<std::unique_ptr<Regex>> Regex::compile(const std::string& hf_pattern) {
  std::unique_ptr<Regex> re(new Regex());
  re->pattern_ = translate_hf_regex(hf_pattern);
  // Oniguruma's Ruby syntax treats ^ and $ as line anchors, hence MULTILINE.
  const uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE;
  auto compile_one = [&](const std::string& pattern) -> Result<void*> {
    int err = 0;
    PCRE2_SIZE err_off = 0;
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), opts, &err,
                                     &err_off, nullptr);
    if (code == nullptr) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(err, msg, sizeof(msg));
      return make_error("regex '{}': {} at offset {}", hf_pattern, reinterpret_cast<const char*>(msg),
                        static_cast<size_t>(err_off));
    }
    pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
    return static_cast<void*>(code);
  };
  auto full = compile_one(re->pattern_);
  if (!full.ok()) return full.error();
  re->code_ = full.value();
  // The long category classes slow PCRE2 down (~1.4x on the DeepSeek-V3 regex); texts without any
  // newly assigned code point match the same with the plain pattern.
  const std::string plain = translate_hf_regex(hf_pattern, /*newer_unicode=*/false);
  if (plain != re->pattern_) {
    auto fast = compile_one(plain);
    if (!fast.ok()) return fast.error();
    re->plain_code_ = fast.value();
  }
  return re;
}

Regex::~Regex() {
  pcre2_code_free(static_cast<pcre2_code*>(code_));
  pcre2_code_free(static_cast<pcre2_code*>(plain_code_));
}

void Regex::find_all(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  auto* code =
      static_cast<pcre2_code*>(plain_code_ != nullptr && !has_newer_unicode(text) ? plain_code_ : code_);
  MatchScratch& s = scratch();
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  const size_t n = text.size();
  size_t off = 0;
  while (off <= n) {
    int rc = pcre2_match(code, subject, n, off, 0, s.md, s.mctx);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
      rc = pcre2_match(code, subject, n, off, PCRE2_NO_JIT, s.md, s.mctx);
    }
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH or a resource limit: the rest stays unmatched
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(s.md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(static_cast<uint32_t>(b), static_cast<uint32_t>(e));
      off = e;
    } else {
      if (b >= n) break;
      uint32_t cp;
      const int len = decode_utf8(text, b, &cp);
      off = b + (len > 0 ? len : 1);
    }
  }
}

namespace {

// HF Pattern::find_matches followed by SplitDelimiterBehavior, on one piece.
void split_piece(Piece piece, const Regex& re, SplitBehavior behavior, bool invert,
                 std::vector<std::pair<uint32_t, uint32_t>>& matches, std::vector<Piece>& out) {
  matches.clear();
  re.find_all(piece, matches);
  if (matches.empty()) {
    // No match: the whole piece is one non-match (a match when inverted).
    if (!(behavior == SplitBehavior::Removed && invert)) out.push_back(piece);
    return;
  }
  // Interleave matches and the gaps between them as (begin, end, is_match).
  struct Span {
    uint32_t b, e;
    bool m;
  };
  thread_local std::vector<Span> spans;
  spans.clear();
  uint32_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (prev != b) spans.push_back({prev, b, invert});
    spans.push_back({b, e, !invert});
    prev = e;
  }
  if (prev != piece.size()) spans.push_back({prev, static_cast<uint32_t>(piece.size()), invert});

  auto emit = [&](uint32_t b, uint32_t e) {
    if (e > b) out.push_back(piece.substr(b, e - b));
  };
  switch (behavior) {
    case SplitBehavior::Removed:
      for (const Span& s : spans)
        if (!s.m) emit(s.b, s.e);
      break;
    case SplitBehavior::Isolated:
      for (const Span& s : spans) emit(s.b, s.e);
      break;
    case SplitBehavior::MergedWithPrevious: {
      std::vector<std::pair<uint32_t, uint32_t>> acc;
      bool prev_match = false;
      for (const Span& s : spans) {
        if (s.m && !prev_match && !acc.empty()) {
          acc.back().second = s.e;
        } else {
          acc.emplace_back(s.b, s.e);
        }
        prev_match = s.m;
      }
      for (const auto& [b, e] : acc) emit(b, e);
      break;
    }
    case SplitBehavior::MergedWithNext: {
      std::vector<std::pair<uint32_t, uint32_t>> acc;  // built right to left
      bool prev_match = false;
      for (auto it = spans.rbegin(); it != spans.rend(); ++it) {
        if (it->m && !prev_match && !acc.empty()) {
          acc.back().first = it->b;
        } else {
          acc.emplace_back(it->b, it->e);
        }
        prev_match = it->m;
      }
      for (auto it = acc.rbegin(); it != acc.rend(); ++it) emit(it->first, it->second);
      break;
    }
    case SplitBehavior::Contiguous: {
      std::vector<std::pair<uint32_t, uint32_t>> acc;
      bool prev_match = false;
      for (const Span& s : spans) {
        if (s.m == prev_match && !acc.empty()) {
          acc.back().second = s.e;
        } else {
          acc.emplace_back(s.b, s.e);
        }
        prev_match = s.m;
      }
      for (const auto& [b, e] : acc) emit(b, e);
      break;
    }
  }
}

}  // namespace

void PreTokenizer::split(std::string_view text, std::vector<Piece>& out,
                         std::vector<std::unique_ptr<std::string>>& owned) const {
  if (text.empty()) return;
  if (steps_.empty()) {
    out.push_back(text);
    return;
  }
  thread_local std::vector<Piece> cur, next;
  thread_local std::vector<std::pair<uint32_t, uint32_t>> matches;
  cur.clear();
  cur.push_back(text);
  for (const PreTokenizerStep& step : steps_) {
    next.clear();
    for (Piece p : cur) {
      if (step.kind == PreTokenizerStep::Kind::ByteLevel) {
        if (step.add_prefix_space && p.front() != ' ') {
          owned.push_back(std::make_unique<std::string>());
          owned.back()->reserve(p.size() + 1);
          *owned.back() += ' ';
          *owned.back() += p;
          p = *owned.back();
        }
        if (step.regex) {
          split_piece(p, *step.regex, SplitBehavior::Isolated, false, matches, next);
        } else {
          next.push_back(p);
        }
      } else {
        split_piece(p, *step.regex, step.behavior, step.invert, matches, next);
      }
    }
    std::swap(cur, next);
  }
  out.insert(out.end(), cur.begin(), cur.end());
}

namespace {

Result<PreTokenizer> splits_then_byte_level(std::initializer_list<const char*> regexes) {
  std::vector<PreTokenizerStep> steps;
  for (const char* r : regexes) {
    R1_ASSIGN_OR_RETURN(re, Regex::compile(r));
    PreTokenizerStep s;
    s.kind = PreTokenizerStep::Kind::Split;
    s.regex = std::shared_ptr<const Regex>(std::move(re));
    s.behavior = SplitBehavior::Isolated;
    steps.push_back(std::move(s));
  }
  PreTokenizerStep bl;
  bl.kind = PreTokenizerStep::Kind::ByteLevel;
  steps.push_back(std::move(bl));
  return PreTokenizer(std::move(steps));
}

}  // namespace

Result<PreTokenizer> pretokenizer_for_gguf_pre(const std::string& pre) {
  // Regex lists as in llama.cpp's llm_tokenizer_bpe (llama-vocab.cpp); where llama.cpp rewrote
  // an HF regex for its own engine, the original HF regex is used (PCRE2 runs it directly).
  if (pre == "gpt2" || pre == "gpt-2" || pre == "phi-2" || pre == "jina-es" || pre == "jina-de") {
    return splits_then_byte_level({kGpt2Regex});
  }
  if (pre == "default" || pre.empty()) {
    return splits_then_byte_level({"[\\p{P}\\$\\+<=>\\^~\\|]+",
                                   "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)",
                                   "\\p{N}+", "[0-9][0-9][0-9]"});
  }
  if (pre == "llama3" || pre == "llama-bpe" || pre == "llama-v3" || pre == "dbrx" || pre == "smaug-bpe") {
    return splits_then_byte_level(
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"});
  }
  if (pre == "qwen2" || pre == "deepseek-r1-qwen" || pre == "stablelm2" || pre == "megrez" || pre == "hunyuan") {
    return splits_then_byte_level(
        {"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
         "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"});
  }
  if (pre == "deepseek-v3") {
    return splits_then_byte_level(
        {"\\p{N}{1,3}", "[一-龥぀-ゟ゠-ヿ]+",
         "[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+| "
         "?[\\p{P}\\p{S}]+[\r\n]*|\\s*[\r\n]+|\\s+(?!\\S)|\\s+"});
  }
  if (pre == "deepseek-llm") {
    return splits_then_byte_level(
        {"[\r\n]",
         // The cased-letter class written with escapes: NFC-normalizing editors would otherwise
         // replace singletons such as U+1FD3, U+2126 and U+212A and break the ranges.
         "\\s?[A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}\\x{1C4}-\\x{293}"
         "\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}\\x{37F}\\x{386}\\x{388}-\\x{38A}"
         "\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}"
         "-\\x{10C5}\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}\\x{1D00}-"
         "\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}"
         "\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}"
         "\\x{1FB6}-\\x{1FBC}\\x{1FBE}\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
         "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}\\x{210A}-\\x{2113}\\x{2115}"
         "\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}"
         "-\\x{213F}\\x{2145}-\\x{2149}\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}"
         "-\\x{2CEE}\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}\\x{A771}-\\x{A787}"
         "\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}"
         "-\\x{FF5A}\\x{10400}-\\x{1044F}\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}"
         "-\\x{10CF2}\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}]+",
         "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", "[一-龥ࠀ-一가-퟿]+", "\\p{N}+"});
  }
  if (pre == "deepseek-coder") {
    return splits_then_byte_level({"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", "[一-龥ࠀ-一가-퟿]+", "\\p{N}"});
  }
  return make_error(
      "tokenizer.ggml.pre: unsupported pre-tokenizer '{}' (supported: gpt2, default, llama3/llama-bpe, "
      "qwen2, deepseek-r1-qwen, deepseek-v3, deepseek-llm, deepseek-coder)",
      pre);
}

}  // namespace r1::tok
