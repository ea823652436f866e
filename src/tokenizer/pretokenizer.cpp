// Pre-tokenizers on PCRE2 (see pretokenizer.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/pretokenizer.h"

#include <pcre2.h>

#include "tokenizer/unicode.h"

namespace r1::tok {

namespace {

// What \s matches. The reference ids (tokenizers/cases-sample) come from transformers.js, whose
// JavaScript \s is Zs plus \t..\r, U+2028/2029 and U+FEFF. HF's Rust tokenizers use Oniguruma,
// whose \s is Unicode White_Space: the same set except that it has U+0085 (NEL) instead of
// U+FEFF (BOM). The two disagree only on texts holding those two characters; we follow the
// reference data. PCRE2's own UCP \s (\p{Z} plus \t..\r) has neither.
constexpr const char* kWhiteSpaceClassBody =
    "\\t-\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";

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

std::string translate_hf_regex(std::string_view p) {
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
  int err = 0;
  PCRE2_SIZE err_off = 0;
  // Oniguruma's Ruby syntax treats ^ and $ as line anchors, hence MULTILINE.
  const uint32_t opts = PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF | PCRE2_MULTILINE;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(re->pattern_.data()),
                                   re->pattern_.size(), opts, &err, &err_off, nullptr);
  if (code == nullptr) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    return make_error("regex '{}': {} at offset {}", hf_pattern, reinterpret_cast<const char*>(msg),
                      static_cast<size_t>(err_off));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // falls back to the interpreter if JIT is unavailable
  re->code_ = code;
  return re;
}

Regex::~Regex() { pcre2_code_free(static_cast<pcre2_code*>(code_)); }

void Regex::find_all(std::string_view text, std::vector<std::pair<uint32_t, uint32_t>>& out) const {
  auto* code = static_cast<pcre2_code*>(code_);
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
