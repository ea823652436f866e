// GBNF parsing and the byte-level matcher (see grammar.h).
#include "grammar/grammar.h"

#include <algorithm>
#include <functional>
#include <map>

#include "core/check.h"
#include "core/utf8.h"

namespace r1::grammar {

bool CharSet::contains(uint32_t cp) const {
  if (cp < 128) return ascii[cp];
  bool in = false;
  for (const auto& [lo, hi] : ranges) {
    if (cp >= lo && cp <= hi) {
      in = true;
      break;
    }
  }
  return in != negated;
}

bool CharSet::intersects(uint32_t lo, uint32_t hi) const {
  if (negated) {
    // Not exact when several ranges together cover [lo, hi]; then a later byte is refused.
    for (const auto& [a, b] : ranges) {
      if (a <= lo && b >= hi) return false;
    }
    return true;
  }
  for (const auto& [a, b] : ranges) {
    if (a <= hi && b >= lo) return true;
  }
  return false;
}

uint32_t CharSet::smallest() const {
  // Printable ASCII first (a forced completion should read well), then anything; the walk jumps
  // over ranges, so it costs O(ranges^2) at most, never the whole code space.
  // Surrogates (U+D800..U+DFFF) have no UTF-8 form: never a member the matcher could take.
  constexpr uint32_t kSurLo = 0xD800, kSurHi = 0xDFFF;
  auto first_in = [&](uint32_t lo, uint32_t hi) -> int64_t {
    if (!negated) {
      int64_t best = -1;
      for (const auto& [a, b] : ranges) {
        if (a > hi || b < lo) continue;
        uint32_t c = std::max(a, lo);
        if (c >= kSurLo && c <= kSurHi) c = kSurHi + 1;
        if (c <= std::min(b, hi) && (best < 0 || c < best)) best = c;
      }
      return best;
    }
    uint32_t c = lo;
    for (bool moved = true; moved && c <= hi;) {
      moved = false;
      if (c >= kSurLo && c <= kSurHi) {
        c = kSurHi + 1;
        moved = true;
      }
      for (const auto& [a, b] : ranges) {
        if (c >= a && c <= b) {
          if (b >= hi) return -1;
          c = b + 1;
          moved = true;
        }
      }
    }
    return c <= hi ? static_cast<int64_t>(c) : -1;
  };
  int64_t c = first_in(0x20, 0x7E);
  if (c < 0) c = first_in(0, 0x10FFFF);
  return c < 0 ? 0 : static_cast<uint32_t>(c);
}

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// Limits on what a request may ask for: the parser and the matcher recurse over groups and rule
// chains, and the shortest-completion texts are stored per element.
constexpr int kMaxNesting = 64;
constexpr size_t kMaxRules = 10000;
constexpr size_t kMaxElems = 200000;
constexpr int64_t kMaxShortestBytes = 1 << 16;

// Recursive-descent GBNF parser. Rules are collected as sequences first and flattened into
// Grammar::elems at the end, since parsing a rule creates helper rules (groups, repetitions).
class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<std::shared_ptr<const Grammar>> run() {
    skip_ws();
    while (i_ < s_.size()) {
      const size_t at = i_;
      std::string name = parse_name();
      if (name.empty()) return fail(at, "expected a rule name");
      skip_ws();
      if (s_.substr(i_, 3) != "::=") return fail(i_, fmt::format("expected '::=' after rule name '{}'", name));
      i_ += 3;
      const int32_t id = rule_id(name);
      if (defined_[static_cast<size_t>(id)]) return fail(at, fmt::format("rule '{}' is defined twice", name));
      defined_[static_cast<size_t>(id)] = true;
      auto alts = parse_alternates(name, 0);
      if (!error_.empty()) return make_error("{}", error_);
      seqs_[static_cast<size_t>(id)] = std::move(alts);
      skip_ws();
    }
    for (size_t r = 0; r < names_.size(); ++r) {
      if (!defined_[r]) return make_error("grammar: rule '{}' is used but never defined", names_[r]);
    }
    auto root = ids_.find("root");
    if (root == ids_.end()) return make_error("grammar: no 'root' rule (the start rule must be named root)");
    auto g = std::make_shared<Grammar>();
    g->root = root->second;
    for (size_t r = 0; r < names_.size(); ++r) {
      Grammar::Rule rule;
      rule.name = names_[r];
      for (auto& seq : seqs_[r]) {
        rule.alts.push_back(static_cast<int32_t>(g->elems.size()));
        g->elems.insert(g->elems.end(), seq.begin(), seq.end());
        g->elems.push_back(Elem{});
      }
      g->rules.push_back(std::move(rule));
    }
    g->charsets = std::move(charsets_);
    if (g->elems.size() > kMaxElems || g->rules.size() > kMaxRules) {
      return make_error("grammar: too large ({} rules, {} elements after expanding repetitions; at most {} and {})",
                        g->rules.size(), g->elems.size(), kMaxRules, kMaxElems);
    }
    R1_TRY(check_left_recursion(*g));
    R1_TRY(compute_shortest(*g));
    return std::shared_ptr<const Grammar>(std::move(g));
  }

 private:
  using Seq = std::vector<Elem>;

  Error fail(size_t at, const std::string& what) {
    return make_error("grammar: {} at byte {}", what, at);
  }
  void set_error(size_t at, const std::string& what) {
    if (error_.empty()) error_ = fmt::format("grammar: {} at byte {}", what, at);
  }

  void skip_ws() {
    while (i_ < s_.size()) {
      const char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++i_;
      } else if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
      } else {
        break;
      }
    }
  }

  std::string parse_name() {
    const size_t start = i_;
    while (i_ < s_.size() && is_name_char(s_[i_])) ++i_;
    return std::string(s_.substr(start, i_ - start));
  }

  // At a `name ::=` (the next rule starts)?
  bool at_rule_start() const {
    size_t j = i_;
    while (j < s_.size() && is_name_char(s_[j])) ++j;
    if (j == i_) return false;
    while (j < s_.size() && (s_[j] == ' ' || s_[j] == '\t' || s_[j] == '\n' || s_[j] == '\r')) ++j;
    return s_.substr(j, 3) == "::=";
  }

  int32_t rule_id(const std::string& name) {
    auto it = ids_.find(name);
    if (it != ids_.end()) return it->second;
    const auto id = static_cast<int32_t>(names_.size());
    ids_[name] = id;
    names_.push_back(name);
    seqs_.emplace_back();
    defined_.push_back(false);
    return id;
  }

  int32_t new_rule(const std::string& base, std::vector<Seq> alts) {
    std::string name;
    do {
      name = fmt::format("{}-{}", base, ++generated_);
    } while (ids_.count(name));
    const int32_t id = rule_id(name);
    defined_[static_cast<size_t>(id)] = true;
    seqs_[static_cast<size_t>(id)] = std::move(alts);
    return id;
  }

  int32_t add_charset(CharSet cs) {
    for (uint32_t c = 0; c < 128; ++c) {
      bool in = false;
      for (const auto& [lo, hi] : cs.ranges) in = in || (c >= lo && c <= hi);
      cs.ascii[c] = in != cs.negated;
    }
    std::string key = cs.negated ? "^" : "";
    for (const auto& [lo, hi] : cs.ranges) key += fmt::format("{}-{},", lo, hi);
    auto it = charset_ids_.find(key);
    if (it != charset_ids_.end()) return it->second;
    const auto id = static_cast<int32_t>(charsets_.size());
    charsets_.push_back(std::move(cs));
    charset_ids_[key] = id;
    return id;
  }

  Elem chars_elem(uint32_t lo, uint32_t hi, bool negated = false) {
    CharSet cs;
    cs.negated = negated;
    if (lo <= hi) cs.ranges.push_back({lo, hi});
    return Elem{Elem::Kind::Chars, add_charset(std::move(cs))};
  }

  // One code point of a literal or class, with escapes. Returns false at the end of input.
  bool parse_char(uint32_t& cp) {
    if (i_ >= s_.size()) return false;
    const auto c = static_cast<unsigned char>(s_[i_]);
    if (c == '\\') {
      if (i_ + 1 >= s_.size()) return false;
      const char e = s_[i_ + 1];
      i_ += 2;
      auto hex = [&](int n) -> bool {
        uint32_t v = 0;
        for (int k = 0; k < n; ++k) {
          if (i_ >= s_.size()) return false;
          const char h = s_[i_++];
          int d = (h >= '0' && h <= '9') ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
          if (d < 0) return false;
          v = v * 16 + static_cast<uint32_t>(d);
        }
        cp = v;
        return true;
      };
      switch (e) {
        case 'n': cp = '\n'; return true;
        case 'r': cp = '\r'; return true;
        case 't': cp = '\t'; return true;
        case 'x': return hex(2);
        case 'u': return hex(4);
        case 'U': return hex(8);
        default: cp = static_cast<unsigned char>(e); return true;  // \\ \" \[ \] \- \^ ...
      }
    }
    // A UTF-8 sequence.
    int n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
    cp = n == 0 ? c : n == 1 ? (c & 0x1F) : n == 2 ? (c & 0x0F) : (c & 0x07);
    ++i_;
    for (int k = 0; k < n && i_ < s_.size(); ++k) cp = (cp << 6) | (static_cast<unsigned char>(s_[i_++]) & 0x3F);
    return true;
  }

  std::vector<Seq> parse_alternates(const std::string& name, int depth) {
    std::vector<Seq> alts;
    alts.push_back(parse_sequence(name, depth));
    while (error_.empty()) {
      skip_ws();
      if (i_ < s_.size() && s_[i_] == '|') {
        ++i_;
        alts.push_back(parse_sequence(name, depth));
      } else {
        break;
      }
    }
    return alts;
  }

  Seq parse_sequence(const std::string& name, int depth) {
    Seq seq;
    while (error_.empty()) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] == '|' || s_[i_] == ')') break;
      if (depth == 0 && at_rule_start()) break;
      const size_t at = i_;
      Seq atom;
      const char c = s_[i_];
      if (c == '"') {
        ++i_;
        while (i_ < s_.size() && s_[i_] != '"') {
          uint32_t cp = 0;
          if (!parse_char(cp)) break;
          atom.push_back(chars_elem(cp, cp));
        }
        if (i_ >= s_.size()) {
          set_error(at, "unterminated string literal");
          break;
        }
        ++i_;
      } else if (c == '[') {
        ++i_;
        CharSet cs;
        if (i_ < s_.size() && s_[i_] == '^') {
          cs.negated = true;
          ++i_;
        }
        while (i_ < s_.size() && s_[i_] != ']') {
          uint32_t lo = 0, hi = 0;
          if (!parse_char(lo)) break;
          hi = lo;
          if (i_ + 1 < s_.size() && s_[i_] == '-' && s_[i_ + 1] != ']') {
            ++i_;
            if (!parse_char(hi)) break;
          }
          if (hi < lo) {
            set_error(at, "character range with its end before its start");
            break;
          }
          cs.ranges.push_back({lo, hi});
        }
        if (i_ >= s_.size()) {
          set_error(at, "unterminated character class");
          break;
        }
        ++i_;
        atom.push_back(Elem{Elem::Kind::Chars, add_charset(std::move(cs))});
      } else if (c == '.') {
        ++i_;
        atom.push_back(chars_elem(1, 0, /*negated=*/true));  // no exclusions: any code point
      } else if (c == '(') {
        if (depth >= kMaxNesting) {
          set_error(at, fmt::format("groups nested deeper than {}", kMaxNesting));
          break;
        }
        ++i_;
        auto alts = parse_alternates(name, depth + 1);
        skip_ws();
        if (i_ >= s_.size() || s_[i_] != ')') {
          set_error(at, "unclosed '('");
          break;
        }
        ++i_;
        atom.push_back(Elem{Elem::Kind::Ref, new_rule(name, std::move(alts))});
      } else if (is_name_char(c)) {
        atom.push_back(Elem{Elem::Kind::Ref, rule_id(parse_name())});
      } else {
        set_error(at, fmt::format("unexpected character '{}'", c));
        break;
      }
      // Postfix repetition.
      int64_t lo = 1, hi = 1;
      if (i_ < s_.size() && (s_[i_] == '*' || s_[i_] == '+' || s_[i_] == '?')) {
        const char op = s_[i_++];
        lo = op == '+' ? 1 : 0;
        hi = op == '?' ? 1 : -1;
      } else if (i_ < s_.size() && s_[i_] == '{') {
        const size_t at_brace = i_++;
        auto number = [&]() -> int64_t {
          skip_ws();
          int64_t v = -1;
          // Saturates (any count past 1000 is refused below) so that a long digit run cannot
          // overflow (found by grammar_fuzz: {1,7777777777777777777...}).
          while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9')
            v = std::min<int64_t>((v < 0 ? 0 : v * 10) + (s_[i_++] - '0'), int64_t{1} << 40);
          skip_ws();
          return v;
        };
        lo = number();
        hi = lo;
        if (i_ < s_.size() && s_[i_] == ',') {
          ++i_;
          hi = number();  // -1: unbounded
        }
        if (lo < 0 || i_ >= s_.size() || s_[i_] != '}' || (hi >= 0 && hi < lo) || lo > 1000 || hi > 1000) {
          set_error(at_brace, "bad repetition {m}, {m,} or {m,n} (0 <= m <= n <= 1000)");
          break;
        }
        ++i_;
      }
      if (lo == 1 && hi == 1) {
        seq.insert(seq.end(), atom.begin(), atom.end());
        continue;
      }
      Elem x = atom.size() == 1 ? atom[0] : Elem{Elem::Kind::Ref, new_rule(name, {atom})};
      for (int64_t k = 0; k < lo; ++k) seq.push_back(x);
      if (hi < 0) {
        // x* as a right-recursive rule: star ::= x star | (empty). The matcher's tail calls keep
        // its stack flat however long the repetition runs.
        const int32_t star = rule_id(fmt::format("{}-{}", name, ++generated_));
        defined_[static_cast<size_t>(star)] = true;
        seqs_[static_cast<size_t>(star)] = {Seq{x, Elem{Elem::Kind::Ref, star}}, Seq{}};
        seq.push_back(Elem{Elem::Kind::Ref, star});
      } else if (hi > lo) {
        // Up to (hi - lo) more: opt_1 ::= x | (empty); opt_k ::= x opt_{k-1} | (empty).
        int32_t opt = new_rule(name, {Seq{x}, Seq{}});
        for (int64_t k = 1; k < hi - lo; ++k) opt = new_rule(name, {Seq{x, Elem{Elem::Kind::Ref, opt}}, Seq{}});
        seq.push_back(Elem{Elem::Kind::Ref, opt});
      }
    }
    return seq;
  }

  // A rule that can reach itself without consuming input would make the matcher loop.
  static Result<void> check_left_recursion(const Grammar& g) {
    const size_t R = g.rules.size();
    std::vector<bool> nullable(R, false);
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < R; ++r) {
        if (nullable[r]) continue;
        for (int32_t a : g.rules[r].alts) {
          bool all = true;
          for (int32_t p = a; g.elems[static_cast<size_t>(p)].kind != Elem::Kind::End; ++p) {
            const Elem& e = g.elems[static_cast<size_t>(p)];
            if (e.kind == Elem::Kind::Chars || !nullable[static_cast<size_t>(e.arg)]) {
              all = false;
              break;
            }
          }
          if (all) {
            nullable[r] = changed = true;
            break;
          }
        }
      }
    }
    std::vector<std::vector<int32_t>> first(R);
    for (size_t r = 0; r < R; ++r) {
      for (int32_t a : g.rules[r].alts) {
        for (int32_t p = a; g.elems[static_cast<size_t>(p)].kind == Elem::Kind::Ref; ++p) {
          const int32_t q = g.elems[static_cast<size_t>(p)].arg;
          first[r].push_back(q);
          if (!nullable[static_cast<size_t>(q)]) break;
        }
      }
    }
    std::vector<int> color(R, 0);
    std::string cycle;
    std::function<bool(size_t)> dfs = [&](size_t r) {
      color[r] = 1;
      for (int32_t q : first[r]) {
        const auto uq = static_cast<size_t>(q);
        if (color[uq] == 1 || (color[uq] == 0 && dfs(uq))) {
          if (cycle.empty()) cycle = g.rules[uq].name;
          return true;
        }
      }
      color[r] = 2;
      return false;
    };
    for (size_t r = 0; r < R; ++r) {
      if (color[r] == 0 && dfs(r)) return make_error("grammar: rule '{}' is left-recursive (it can reach itself without consuming input)", cycle);
    }
    return ok_result();
  }

  static Result<void> compute_shortest(Grammar& g) {
    const size_t R = g.rules.size();
    std::vector<int64_t> len(R, Grammar::kInfinite);
    // Each class's smallest member, once (an empty class never matches: infinite).
    std::vector<int64_t> cs_len(g.charsets.size());
    for (size_t c = 0; c < g.charsets.size(); ++c) {
      const uint32_t m = g.charsets[c].smallest();
      std::string one;
      append_utf8(m, one);
      g.charsets[c].first = m;
      cs_len[c] = g.charsets[c].contains(m) ? static_cast<int64_t>(one.size()) : Grammar::kInfinite;
    }
    auto elem_len = [&](const Elem& e) -> int64_t {
      if (e.kind == Elem::Kind::Chars) return cs_len[static_cast<size_t>(e.arg)];
      return len[static_cast<size_t>(e.arg)];
    };
    for (bool changed = true; changed;) {
      changed = false;
      for (size_t r = 0; r < R; ++r) {
        for (int32_t a : g.rules[r].alts) {
          int64_t sum = 0;
          for (int32_t p = a; g.elems[static_cast<size_t>(p)].kind != Elem::Kind::End; ++p) {
            sum = std::min(Grammar::kInfinite, sum + elem_len(g.elems[static_cast<size_t>(p)]));
          }
          if (sum < len[r]) {
            len[r] = sum;
            changed = true;
          }
        }
      }
    }
    for (size_t r = 0; r < R; ++r) {
      if (len[r] >= Grammar::kInfinite) return make_error("grammar: rule '{}' never ends (no finite text matches it)", g.rules[r].name);
      if (len[r] > kMaxShortestBytes) return make_error("grammar: rule '{}' matches nothing shorter than {} bytes (at most {})", g.rules[r].name, len[r], kMaxShortestBytes);
    }
    // Texts: each rule's shortest alternative, built bottom-up by length.
    std::vector<std::string> text(R);
    std::vector<bool> done(R, false);
    std::function<const std::string&(size_t)> rule_text = [&](size_t r) -> const std::string& {
      if (done[r]) return text[r];
      for (int32_t a : g.rules[r].alts) {
        int64_t sum = 0;
        for (int32_t p = a; g.elems[static_cast<size_t>(p)].kind != Elem::Kind::End; ++p)
          sum = std::min(Grammar::kInfinite, sum + elem_len(g.elems[static_cast<size_t>(p)]));
        if (sum != len[r]) continue;
        std::string s;
        for (int32_t p = a; g.elems[static_cast<size_t>(p)].kind != Elem::Kind::End; ++p) {
          const Elem& e = g.elems[static_cast<size_t>(p)];
          if (e.kind == Elem::Kind::Chars) {
            append_utf8(g.charsets[static_cast<size_t>(e.arg)].first, s);
          } else {
            s += rule_text(static_cast<size_t>(e.arg));
          }
        }
        text[r] = std::move(s);
        break;
      }
      done[r] = true;
      return text[r];
    };
    g.rest_bytes.assign(g.elems.size(), 0);
    int64_t total = 0;
    for (size_t r = 0; r < R; ++r) {
      total += static_cast<int64_t>(rule_text(r).size());
      if (total > kMaxShortestBytes * 64) return make_error("grammar: the rules' shortest matches add up to more than {} bytes", kMaxShortestBytes * 64);
      for (int32_t a : g.rules[r].alts) {
        int32_t end = a;
        while (g.elems[static_cast<size_t>(end)].kind != Elem::Kind::End) ++end;
        for (int32_t p = end - 1; p >= a; --p) {
          const auto up = static_cast<size_t>(p);
          // Saturated: an alternative may hold several never-matching elements (each kInfinite).
          g.rest_bytes[up] = std::min(Grammar::kInfinite, g.rest_bytes[up + 1] + elem_len(g.elems[up]));
        }
      }
    }
    g.rule_text = std::move(text);
    return ok_result();
  }

  std::string_view s_;
  size_t i_ = 0;
  std::map<std::string, int32_t> ids_;
  std::vector<std::string> names_;
  std::vector<std::vector<Seq>> seqs_;
  std::vector<bool> defined_;
  std::vector<CharSet> charsets_;
  std::map<std::string, int32_t> charset_ids_;
  int generated_ = 0;
  std::string error_;
};

}  // namespace

Result<std::shared_ptr<const Grammar>> parse_gbnf(std::string_view text) { return Parser(text).run(); }

Matcher::Matcher(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
  for (int32_t a : g_->rules[static_cast<size_t>(g_->root)].alts) expand(a, -1, heads_, accepting_, 0);
}

void Matcher::expand(int32_t pos, int32_t parent, std::vector<int32_t>& out, bool& accepting, int depth) {
  // Bounded by the rule count without left recursion, except for long chains of frames that end
  // together; past this a path is dropped rather than risking the stack.
  if (depth > 4 * static_cast<int>(kMaxRules)) return;
  const Elem& e = g_->elems[static_cast<size_t>(pos)];
  switch (e.kind) {
    case Elem::Kind::End:
      if (parent < 0) {
        accepting = true;
      } else {
        const Frame f = pool_[static_cast<size_t>(parent)];
        expand(f.pos, f.parent, out, accepting, depth + 1);
      }
      return;
    case Elem::Kind::Ref: {
      // A reference last in its alternative returns straight to our parent (a tail call).
      int32_t cont = parent;
      if (g_->elems[static_cast<size_t>(pos) + 1].kind != Elem::Kind::End) {
        cont = static_cast<int32_t>(pool_.size());
        pool_.push_back(Frame{pos + 1, parent});
      }
      for (int32_t a : g_->rules[static_cast<size_t>(e.arg)].alts) expand(a, cont, out, accepting, depth + 1);
      return;
    }
    case Elem::Kind::Chars:
      for (int32_t h : out) {
        const Frame& f = pool_[static_cast<size_t>(h)];
        if (f.pos == pos && f.parent == parent) return;
      }
      out.push_back(static_cast<int32_t>(pool_.size()));
      pool_.push_back(Frame{pos, parent});
      return;
  }
}

bool Matcher::advance(uint32_t cp) {
  const size_t pool_before = pool_.size();
  scratch_.clear();
  bool acc = false;
  for (int32_t h : heads_) {
    const Frame f = pool_[static_cast<size_t>(h)];
    const CharSet& cs = g_->charsets[static_cast<size_t>(g_->elems[static_cast<size_t>(f.pos)].arg)];
    if (cs.contains(cp)) expand(f.pos + 1, f.parent, scratch_, acc, 0);
  }
  if (scratch_.empty() && !acc) {
    pool_.resize(pool_before);
    return false;
  }
  heads_.swap(scratch_);
  accepting_ = acc;
  return true;
}

bool Matcher::feasible(uint32_t v, int remaining) const {
  // The code points this prefix can still become, in their shortest (valid) encoding only:
  // overlong forms and surrogates are not UTF-8 (RFC 3629 §3), so no stack may take them.
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  uint32_t lo = v << (6 * remaining), hi = lo | ((1u << (6 * remaining)) - 1);
  lo = std::max(lo, kMin[len_]);
  hi = std::min(hi, 0x10FFFFu);
  if (lo > hi || (lo >= 0xD800 && hi <= 0xDFFF)) return false;
  for (int32_t h : heads_) {
    const CharSet& cs = g_->charsets[static_cast<size_t>(g_->elems[static_cast<size_t>(pool_[static_cast<size_t>(h)].pos)].arg)];
    if (cs.intersects(lo, hi)) return true;
  }
  return false;
}

bool Matcher::accept_byte(uint8_t b) {
  if (pending_ == 0) {
    if (b < 0x80) return advance(b);
    int n = 0;
    uint32_t v = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      n = 1, v = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      n = 2, v = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      n = 3, v = b & 0x07;
    } else {
      return false;  // a continuation byte or an invalid lead: never valid UTF-8 here
    }
    len_ = n + 1;
    if (!feasible(v, n)) return false;
    cp_ = v;
    pending_ = n;
    return true;
  }
  if ((b & 0xC0) != 0x80) return false;
  const uint32_t v = (cp_ << 6) | (b & 0x3F);
  if (!feasible(v, pending_ - 1)) return false;
  if (pending_ == 1) {
    if (!advance(v)) return false;
    cp_ = 0;
    pending_ = 0;
    return true;
  }
  cp_ = v;
  --pending_;
  return true;
}

bool Matcher::accept_bytes(std::string_view s) {
  for (const char c : s) {
    if (!accept_byte(static_cast<uint8_t>(c))) return false;
  }
  return true;
}

void Matcher::rewind(const Mark& m) {
  pool_.resize(m.pool);
  heads_ = m.heads;
  accepting_ = m.accepting;
  cp_ = m.cp;
  pending_ = m.pending;
  len_ = m.len;
}

int64_t Matcher::head_rest_bytes(int32_t head) const {
  int64_t sum = 0;
  for (int32_t f = head; f >= 0; f = pool_[static_cast<size_t>(f)].parent) {
    sum = std::min(Grammar::kInfinite, sum + g_->rest_bytes[static_cast<size_t>(pool_[static_cast<size_t>(f)].pos)]);
  }
  return sum;
}

int64_t Matcher::shortest_completion_bytes() const {
  if (complete()) return 0;
  int64_t best = Grammar::kInfinite;
  for (int32_t h : heads_) {
    // Inside a code point: the rest of it, then what follows the head's element.
    int64_t n = pending_ > 0 ? pending_ + head_rest_bytes(h) - g_->rest_bytes[static_cast<size_t>(pool_[static_cast<size_t>(h)].pos)] +
                                   g_->rest_bytes[static_cast<size_t>(pool_[static_cast<size_t>(h)].pos) + 1]
                             : head_rest_bytes(h);
    best = std::min(best, n);
  }
  return best;
}

std::string Matcher::shortest_completion() const {
  if (complete() || pending_ > 0) return "";
  int32_t best = -1;
  int64_t best_n = Grammar::kInfinite;
  for (int32_t h : heads_) {
    const int64_t n = head_rest_bytes(h);
    if (n < best_n) best_n = n, best = h;
  }
  std::string s;
  for (int32_t f = best; f >= 0; f = pool_[static_cast<size_t>(f)].parent) {
    for (auto p = static_cast<size_t>(pool_[static_cast<size_t>(f)].pos); g_->elems[p].kind != Elem::Kind::End; ++p) {
      const Elem& e = g_->elems[p];
      if (e.kind == Elem::Kind::Chars) {
        append_utf8(g_->charsets[static_cast<size_t>(e.arg)].first, s);
      } else {
        s += g_->rule_text[static_cast<size_t>(e.arg)];
      }
    }
  }
  return s;
}

std::string Matcher::key() const {
  std::vector<std::vector<int32_t>> stacks;
  stacks.reserve(heads_.size());
  for (int32_t h : heads_) {
    std::vector<int32_t> st;
    for (int32_t f = h; f >= 0; f = pool_[static_cast<size_t>(f)].parent) st.push_back(pool_[static_cast<size_t>(f)].pos);
    stacks.push_back(std::move(st));
  }
  std::sort(stacks.begin(), stacks.end());
  std::string k;
  k.reserve(16 + stacks.size() * 16);
  const int32_t head[4] = {accepting_ ? 1 : 0, pending_, static_cast<int32_t>(cp_), pending_ ? len_ : 0};
  k.append(reinterpret_cast<const char*>(head), sizeof(head));
  for (const auto& st : stacks) {
    const auto n = static_cast<int32_t>(st.size());
    k.append(reinterpret_cast<const char*>(&n), sizeof(n));
    k.append(reinterpret_cast<const char*>(st.data()), st.size() * sizeof(int32_t));
  }
  return k;
}

void Matcher::compact() {
  std::vector<int32_t> remap(pool_.size(), -1);
  std::vector<Frame> fresh;
  std::function<int32_t(int32_t)> copy = [&](int32_t f) -> int32_t {
    if (f < 0) return -1;
    auto& r = remap[static_cast<size_t>(f)];
    if (r >= 0) return r;
    const Frame old = pool_[static_cast<size_t>(f)];
    const int32_t parent = copy(old.parent);
    r = static_cast<int32_t>(fresh.size());
    fresh.push_back(Frame{old.pos, parent});
    return r;
  };
  for (auto& h : heads_) h = copy(h);
  pool_.swap(fresh);
}

}  // namespace r1::grammar
