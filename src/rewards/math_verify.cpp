// Math answer extraction, normalisation and equivalence (see math_verify.h for the rules).
#include "rewards/math_verify.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <map>
#include <utility>
#include <regex>
#include <set>
#include <vector>

#include <fmt/format.h>

#include "rewards/latex_expr.h"

namespace r1::rewards {
namespace {

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty() || s.find(from) == std::string::npos) return;
  std::string out;  // rebuilt rather than replace() in place (GCC 12 -Wrestrict false positive)
  out.reserve(s.size());
  size_t p = 0, q;
  while ((q = s.find(from, p)) != std::string::npos) {
    out.append(s, p, q - p);
    out.append(to);
    p = q + from.size();
  }
  out.append(s, p, std::string::npos);
  s.swap(out);
}

// Removes the command `cmd` (e.g. "\left") where it is not the prefix of a longer command.
void remove_command(std::string& s, std::string_view cmd) {
  size_t p = 0;
  while ((p = s.find(cmd, p)) != std::string::npos) {
    const size_t e = p + cmd.size();
    if (e < s.size() && std::isalpha(static_cast<unsigned char>(s[e]))) {
      p = e;
      continue;
    }
    s.erase(p, cmd.size());
  }
}

// Index of the '}' matching the '{' at `open`, or npos.
size_t match_brace(std::string_view s, size_t open) {
  int depth = 0;
  for (size_t i = open; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      ++i;
      continue;
    }
    if (s[i] == '{') ++depth;
    if (s[i] == '}' && --depth == 0) return i;
  }
  return std::string_view::npos;
}

bool has_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
}

// Removes {..} wrapping the whole answer.
std::string strip_braces(std::string s) {
  while (s.size() >= 2 && s.front() == '{' && match_brace(s, 0) == s.size() - 1) s = trim(s.substr(1, s.size() - 2));
  return s;
}

// A normalised answer: the text plus whether it carried a percent sign.
struct Norm {
  std::string s;
  bool percent = false;
};

// Replaces \text{X}-like wrappers: units after a number are dropped ("5.4 \text{ cents}"),
// otherwise the wrapper is unwrapped ("\text{Evelyn}" -> "Evelyn").
void handle_text_wrappers(std::string& s) {
  static constexpr std::string_view kWrappers[] = {"\\text", "\\textbf", "\\textit", "\\mbox",
                                                   "\\mathrm", "\\mathbf", "\\textrm", "\\operatorname"};
  struct Span {
    size_t start, open, close;
  };
  std::vector<Span> spans;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') continue;
    for (auto w : kWrappers) {
      if (s.compare(i, w.size(), w) != 0) continue;
      size_t j = i + w.size();
      if (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) continue;
      while (j < s.size() && s[j] == ' ') ++j;
      if (j >= s.size() || s[j] != '{') continue;
      const size_t close = match_brace(s, j);
      if (close == std::string::npos) continue;
      spans.push_back({i, j, close});
      i = close;
      break;
    }
  }
  if (spans.empty()) return;
  std::string rest;  // the text outside the wrappers
  size_t prev = 0;
  for (const auto& sp : spans) {
    rest += s.substr(prev, sp.start - prev);
    prev = sp.close + 1;
  }
  rest += s.substr(prev);
  const bool units = has_digit(rest);
  std::string out;
  prev = 0;
  for (const auto& sp : spans) {
    out += s.substr(prev, sp.start - prev);
    std::string inner = s.substr(sp.open + 1, sp.close - sp.open - 1);
    size_t next = sp.close + 1;
    const bool inner_alpha = std::any_of(inner.begin(), inner.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
    if (units && inner_alpha && !has_digit(inner)) {
      // Drop the unit and a following ^2 / ^3 ("\mbox{ inches}^2").
      if (next + 1 < s.size() && s[next] == '^' && std::isdigit(static_cast<unsigned char>(s[next + 1]))) next += 2;
    } else {
      out += inner;
    }
    prev = next;
  }
  out += s.substr(std::min(prev, s.size()));
  s = out;
}

void strip_unit_words(std::string& s) {
  static const std::regex kUnits(
      R"(^(.*[0-9}.)\s])\s*(degrees?|cm|mm|km|m|inches|inch|in|feet|foot|ft|yards?|miles?|meters?|units?|sq\.?\s*units|cents?|dollars?|hours?|minutes?|seconds?|days?|years?|square\s+(feet|inches|units|meters|cm))(\^[23])?\.?\s*$)",
      std::regex::icase);
  std::smatch m;
  if (std::regex_match(s, m, kUnits) && has_digit(m[1].str())) s = trim(m[1].str());
}

Norm normalize(std::string_view in) {
  Norm n;
  std::string s = trim(in);
  if (s.size() > 8000) s.resize(8000);
  // Math-mode delimiters.
  if (s.size() >= 4 && (s.rfind("\\(", 0) == 0 || s.rfind("\\[", 0) == 0)) s = trim(s.substr(2, s.size() - 4));
  // Unicode math symbols as their ASCII/LaTeX spelling.
  for (auto [u, a] : {std::pair{"\u2212", "-"}, {"\u00d7", "*"}, {"\u00f7", "/"}, {"\u00b7", "*"}, {"\u03c0", "\\pi "},
                      {"\u221e", "\\infty "}, {"\u2264", "\\le "}, {"\u2265", "\\ge "}})
    replace_all(s, u, a);
  replace_all(s, "\\mathbb{R}", "(-\\infty,\\infty)");
  replace_all(s, "\\$", "");
  replace_all(s, "$", "");
  // Spacing.
  s = strip_braces(s);
  {  // Spacing commands (\! \, \; \: \ ~), keeping matrix row breaks (\\) intact.
    std::string o;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\\' && i + 1 < s.size()) {
        const char c = s[i + 1];
        if (c == '\\') {
          o += "\\\\";
          ++i;
          continue;
        }
        if (c == '!' || c == ',' || c == ';' || c == ':' || c == ' ') {
          if (c != '!') o += ' ';
          ++i;
          continue;
        }
      }
      o += s[i] == '~' ? ' ' : s[i];
    }
    s = o;
  }
  for (auto cmd : {"\\quad", "\\qquad", "\\displaystyle", "\\left", "\\right", "\\bigl", "\\bigr",
                   "\\Bigl", "\\Bigr", "\\big", "\\Big"})
    remove_command(s, cmd);
  replace_all(s, "\\left", "");
  for (auto f : {"\\dfrac", "\\tfrac", "\\cfrac"}) replace_all(s, f, "\\frac");
  for (auto f : {"\\dbinom", "\\tbinom"}) replace_all(s, f, "\\binom");
  // Degrees and percentages.
  for (auto d : {"^{\\circ}", "^\\circ", "{}^\\circ", "\\circ", "°"}) replace_all(s, d, "");
  if (s.find('%') != std::string::npos) {
    n.percent = true;
    replace_all(s, "\\%", "");
    replace_all(s, "%", "");
  }
  handle_text_wrappers(s);
  s = trim(s);
  strip_unit_words(s);
  // "x \in [-2,7]" -> "[-2,7]".
  static const std::regex kIn(R"(^[A-Za-z]\s*\\in\s*(.*)$)");
  std::smatch m;
  if (std::regex_match(s, m, kIn)) s = trim(m[1].str());
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  // Thousands separators: the whole answer is one number like 1,000 or -12,345.67.
  std::string nospace;
  for (char c : s)
    if (c != ' ') nospace += c;
  static const std::regex kThousands(R"(^[-+]?\d{1,3}(,\d{3})+(\.\d+)?$)");
  if (std::regex_match(nospace, kThousands)) {
    nospace.erase(std::remove(nospace.begin(), nospace.end(), ','), nospace.end());
    s = nospace;
  }
  // Mixed numbers: 1\frac{4}{5} -> (1+\frac{4}{5}).
  static const std::regex kMixed(R"(^(-?)(\d+)\s*\\frac\{(\d+)\}\{(\d+)\}$)");
  if (std::regex_match(s, m, kMixed)) s = fmt::format("{}({}+\\frac{{{}}}{{{}}})", m[1].str(), m[2].str(), m[3].str(), m[4].str());
  // A lone \boxed wrapper or {..} around the whole answer.
  n.s = strip_braces(s);
  return n;
}

std::string remove_spaces(std::string_view s) {
  std::string o;
  for (char c : s)
    if (!std::isspace(static_cast<unsigned char>(c))) o += c;
  return o;
}

// Key for comparing answers as words: lower case, no spaces/braces/backslash commands like
// \text, single letters out of parentheses ("(C)" -> "c").
std::string text_key(std::string_view s) {
  std::string o;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c)) || c == '{' || c == '}') continue;
    o += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  if (o.size() == 3 && o[0] == '(' && o[2] == ')' && std::isalpha(static_cast<unsigned char>(o[1]))) o = o.substr(1, 1);
  return o;
}

// True when the answer is words rather than algebra: a run of >= 3 letters outside a command.
bool is_wordy(std::string_view s) {
  int run = 0;
  bool in_cmd = false;
  for (char c : s) {
    if (c == '\\') {
      in_cmd = true;
      run = 0;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c))) {
      if (in_cmd) continue;
      if (++run >= 3) return true;
    } else {
      in_cmd = false;
      run = 0;
    }
  }
  return false;
}

// Splits `s` at top-level occurrences of `sep` (outside (), [], {}).
std::vector<std::string> split_top(std::string_view s, std::string_view sep) {
  std::vector<std::string> parts;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\' && i + 1 < s.size() && (s[i + 1] == '{' || s[i + 1] == '}')) {
      depth += s[i + 1] == '{' ? 1 : -1;
      ++i;
      continue;
    }
    if (c == '(' || c == '[' || c == '{') ++depth;
    if (c == ')' || c == ']' || c == '}') --depth;
    if (depth == 0 && s.compare(i, sep.size(), sep) == 0) {
      parts.push_back(trim(s.substr(start, i - start)));
      start = i + sep.size();
      i = start - 1;
    }
  }
  parts.push_back(trim(s.substr(start)));
  return parts;
}

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Deterministic value of variable `name` at evaluation point `k`: in [0.55, 2.45), away from 0
// and 1 so that sqrt/log are defined and x vs x^2 differ.
double point_value(const std::string& name, int k) {
  uint64_t h = 1469598103934665603ull;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  const double u = static_cast<double>(mix64(h ^ (static_cast<uint64_t>(k) * 0x51ED27ull)) >> 11) * 0x1.0p-53;
  return 0.55 + 1.9 * u;
}

// Relative tolerance for values that should be equal. Double rounding in a short expression is
// ~1e-15 relative (cancellation is covered by the rounding scale below), so 1e-9 only absorbs
// noise: \frac{333333}{1000000} is not 1/3. Decimals are held to more (decimal_matches).
constexpr double kRelTol = 1e-9;
// A computed result whose exact value is 0 (\sin\pi, x - x at a rounded point) is off by a few
// ulps of its rounding scale (latex_expr.h Evaluated); 256 ulps covers the short expressions that
// are answers. It never excuses a real difference: 1e-30 and 2e-30 are exact literals, scale 2e-30.
constexpr double kNoiseUlps = 256 * 2.220446049250313e-16;

// True when a and b are equal within kRelTol of the larger, or within the rounding noise of their
// evaluation (so that an exact 0 equals a computed 1e-16, but not a literal 1e-30). No absolute
// tolerance: answers at any magnitude compare by their relative difference.
bool close(Evaluated a, Evaluated b) {
  if (std::isinf(a.value) || std::isinf(b.value)) return a.value == b.value;
  const double diff = std::fabs(a.value - b.value);
  return diff <= kRelTol * std::max(std::fabs(a.value), std::fabs(b.value)) ||
         diff <= kNoiseUlps * std::max(a.scale, b.scale);
}
bool close(double a, double b) { return close(Evaluated{a, std::fabs(a)}, Evaluated{b, std::fabs(b)}); }

constexpr int kPoints = 5;

// Values of the two expressions at shared random points.
void eval_pair(const Expr& a, const Expr& b, std::vector<Evaluated>& va, std::vector<Evaluated>& vb) {
  std::set<std::string> names;
  collect_vars(a, names);
  collect_vars(b, names);
  const int n_points = names.empty() ? 1 : kPoints;
  for (int k = 0; k < n_points; ++k) {
    std::map<std::string, double> vars;
    for (const auto& nm : names) vars[nm] = point_value(nm, k);
    va.push_back(eval_expr_scaled(a, vars));
    vb.push_back(eval_expr_scaled(b, vars));
  }
}

bool values_equal(const std::vector<Evaluated>& va, const std::vector<Evaluated>& vb) {
  int valid = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    const bool fa = !std::isnan(va[i].value), fb = !std::isnan(vb[i].value);
    if (fa != fb) return false;
    if (!fa) continue;
    if (!close(va[i], vb[i])) return false;
    ++valid;
  }
  return valid > 0;
}

// Digits after the point when `s` is a plain decimal literal ("0.34", "-.5", "42.0"), else -1.
int decimal_places(const std::string& s) {
  static const std::regex kDecimal(R"(^[-+]?\d*\.(\d+)$)");
  std::smatch m;
  const std::string t = remove_spaces(s);
  return std::regex_match(t, m, kDecimal) ? static_cast<int>(m[1].length()) : -1;
}

// A decimal with n places denotes a rational with denominator 10^n exactly, so it can equal a
// value only when that value times 10^n is an integer (up to the value's rounding noise): 0.333
// and 0.333333333333 are not 1/3, 1.41 is not \sqrt2, 0.34 is 17/50. When the noise reaches a
// quarter of the last place (about 12 significant digits) a double cannot tell, and the relative
// tolerance alone decides.
bool decimal_matches(const Evaluated& v, int places) {
  const double p = std::pow(10.0, places);
  const double t = v.value * p;
  const double noise = kNoiseUlps * std::max(v.scale, std::fabs(v.value)) * p;
  if (!(noise < 0.25) || !std::isfinite(t)) return true;
  return std::fabs(t - std::round(t)) <= noise;
}

bool scalar_equal(const std::string& a, const std::string& b) {
  if (remove_spaces(a) == remove_spaces(b)) return true;
  if (is_wordy(a) || is_wordy(b)) return text_key(a) == text_key(b);
  auto ea = parse_expr(a);
  auto eb = parse_expr(b);
  if (!ea || !eb) return text_key(a) == text_key(b);
  std::vector<Evaluated> va, vb;
  eval_pair(*ea, *eb, va, vb);
  if (!values_equal(va, vb)) return false;
  const int pa = decimal_places(a), pb = decimal_places(b);
  return (pa < 0 || decimal_matches(vb[0], pa)) && (pb < 0 || decimal_matches(va[0], pb));
}

bool struct_equal(const std::string& a, const std::string& b, int depth);

// Elements of a list with a top-level \pm expanded into its two signs.
std::vector<std::string> expand_pm(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& it : items) {
    auto parts = split_top(it, "\\pm");
    if (parts.size() == 2) {
      out.push_back(fmt::format("{}+{}", parts[0], parts[1]));
      out.push_back(fmt::format("{}-({})", parts[0], parts[1]));
    } else {
      out.push_back(it);
    }
  }
  return out;
}

bool ordered_equal(const std::vector<std::string>& a, const std::vector<std::string>& b, int depth) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (!struct_equal(a[i], b[i], depth + 1)) return false;
  return true;
}

// Multiset equality by greedy matching (answers are short lists).
bool unordered_equal(const std::vector<std::string>& a, const std::vector<std::string>& b, int depth) {
  if (a.size() != b.size()) return false;
  std::vector<bool> used(b.size(), false);
  for (const auto& x : a) {
    bool found = false;
    for (size_t j = 0; j < b.size() && !found; ++j) {
      if (!used[j] && struct_equal(x, b[j], depth + 1)) used[j] = found = true;
    }
    if (!found) return false;
  }
  return true;
}

// A matrix \begin{pmatrix} a & b \\ c & d \end{pmatrix} as rows of cells; nullopt if not one.
std::optional<std::vector<std::vector<std::string>>> parse_matrix(const std::string& s) {
  static const std::regex kMat(R"(^\\begin\{([pbvBV]?matrix|array)\}(\{[^}]*\})?([\s\S]*)\\end\{\1\}$)");
  std::smatch m;
  if (!std::regex_match(s, m, kMat)) return std::nullopt;
  std::vector<std::vector<std::string>> rows;
  for (auto& r : split_top(m[3].str(), "\\\\")) {
    if (r.empty()) continue;
    rows.push_back(split_top(r, "&"));
  }
  return rows;
}

// "(a, b]" -> brackets "(]" and items; nullopt when not a bracketed list with a top-level comma.
struct Bracketed {
  char open, close;
  std::vector<std::string> items;
};
std::optional<Bracketed> parse_bracketed(const std::string& s) {
  if (s.size() < 2) return std::nullopt;
  const char o = s.front(), c = s.back();
  if ((o != '(' && o != '[') || (c != ')' && c != ']')) return std::nullopt;
  // The opening bracket must close at the very end.
  int depth = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (ch == '(' || ch == '[' || ch == '{') ++depth;
    if (ch == ')' || ch == ']' || ch == '}') --depth;
    if (depth == 0 && i + 1 < s.size()) return std::nullopt;
  }
  auto items = split_top(s.substr(1, s.size() - 2), ",");
  if (items.size() < 2) return std::nullopt;
  return Bracketed{o, c, items};
}

bool is_set(const std::string& s) {
  return s.size() >= 4 && s.rfind("\\{", 0) == 0 && s.compare(s.size() - 2, 2, "\\}") == 0;
}

bool is_simple_var(const std::string& s) {
  static const std::regex kVar(R"(^([A-Za-z]|\\[a-zA-Z]+)(_\{?\w+\}?)?(\(\w\))?$)");
  return std::regex_match(s, kVar);
}

bool equation_equal(const std::vector<std::string>& ea, const std::vector<std::string>& eb) {
  // lhs1 - rhs1 proportional to lhs2 - rhs2 at random points (same line/plane/curve).
  auto fa = parse_expr(fmt::format("({})-({})", ea[0], ea[1]));
  auto fb = parse_expr(fmt::format("({})-({})", eb[0], eb[1]));
  if (!fa || !fb) return remove_spaces(fmt::format("{}={}", ea[0], ea[1])) == remove_spaces(fmt::format("{}={}", eb[0], eb[1]));
  std::vector<Evaluated> va, vb;
  eval_pair(*fa, *fb, va, vb);
  // lhs - rhs vanishes only at rounding noise on the curve itself; elsewhere the ratio must agree.
  auto zero = [](Evaluated v) { return std::fabs(v.value) <= kNoiseUlps * v.scale; };
  double ratio = NAN;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i].value) || std::isnan(vb[i].value)) return false;
    if (zero(va[i]) && zero(vb[i])) continue;
    if (zero(vb[i])) return false;
    const double r = va[i].value / vb[i].value;
    if (std::isnan(ratio)) ratio = r;
    else if (!close(r, ratio)) return false;
  }
  return true;
}

bool struct_equal(const std::string& a, const std::string& b, int depth) {
  if (depth > 8) return false;
  if (remove_spaces(a) == remove_spaces(b)) return true;
  // Matrices (a one-column/row matrix also matches a tuple).
  auto ma = parse_matrix(a), mb = parse_matrix(b);
  if (ma || mb) {
    auto flat = [](const std::vector<std::vector<std::string>>& m) {
      std::vector<std::string> f;
      for (auto& r : m) f.insert(f.end(), r.begin(), r.end());
      return f;
    };
    if (ma && mb) {
      if (ma->size() != mb->size()) return false;
      for (size_t i = 0; i < ma->size(); ++i)
        if (!ordered_equal((*ma)[i], (*mb)[i], depth)) return false;
      return true;
    }
    const auto& m = ma ? *ma : *mb;
    auto t = parse_bracketed(ma ? b : a);
    const bool vector = m.size() == 1 || std::all_of(m.begin(), m.end(), [](auto& r) { return r.size() == 1; });
    return vector && t && t->open == '(' && ordered_equal(flat(m), t->items, depth);
  }
  // Unions of intervals.
  auto ua = split_top(a, "\\cup"), ub = split_top(b, "\\cup");
  if (ua.size() > 1 || ub.size() > 1) return unordered_equal(ua, ub, depth);
  // Sets and bare lists: unordered.
  auto list_items = [](const std::string& s) -> std::optional<std::vector<std::string>> {
    if (is_set(s)) return split_top(s.substr(2, s.size() - 4), ",");
    if (s.front() != '(' && s.front() != '[') {
      auto items = split_top(s, ",");
      if (items.size() > 1) return items;
    }
    return std::nullopt;
  };
  auto la = list_items(a), lb = list_items(b);
  auto ta = parse_bracketed(a), tb = parse_bracketed(b);
  if (la || lb) {
    if (la && lb) return unordered_equal(expand_pm(*la), expand_pm(*lb), depth);
    // A bare list against a tuple: ordered; against a \pm scalar: unordered.
    const auto& list = la ? *la : *lb;
    const std::string& other = la ? b : a;
    auto t = la ? tb : ta;
    if (t) return t->open == '(' && t->close == ')' && ordered_equal(list, t->items, depth);
    return unordered_equal(expand_pm(list), expand_pm({other}), depth);
  }
  // Tuples and intervals: ordered, bracket kinds must match.
  if (ta || tb) {
    if (!ta || !tb) return false;
    return ta->open == tb->open && ta->close == tb->close && ordered_equal(ta->items, tb->items, depth);
  }
  // \pm scalars.
  auto pa = expand_pm({a}), pb = expand_pm({b});
  if (pa.size() > 1 || pb.size() > 1) return unordered_equal(pa, pb, depth);
  // Equations.
  auto ea = split_top(a, "="), eb = split_top(b, "=");
  if (ea.size() > 2 || eb.size() > 2) return false;
  if (ea.size() == 2 || eb.size() == 2) {
    if (ea.size() == 2 && eb.size() == 2) {
      if (is_simple_var(ea[0]) && is_simple_var(eb[0]) && remove_spaces(ea[0]) == remove_spaces(eb[0]))
        return struct_equal(ea[1], eb[1], depth + 1);
      return equation_equal(ea, eb);
    }
    const auto& eq = ea.size() == 2 ? ea : eb;
    const std::string& other = ea.size() == 2 ? b : a;
    return is_simple_var(eq[0]) && struct_equal(eq[1], other, depth + 1);
  }
  return scalar_equal(a, b);
}

std::optional<std::string> last_tag_block(std::string_view text, std::string_view open, std::string_view close) {
  const size_t o = text.rfind(open);
  if (o == std::string_view::npos) return std::nullopt;
  const size_t start = o + open.size();
  const size_t c = text.find(close, start);
  return trim(text.substr(start, c == std::string_view::npos ? std::string_view::npos : c - start));
}

// Position and length of the last \boxed / \fbox command in `text`; npos when there is none.
std::pair<size_t, size_t> last_box_command(std::string_view text) {
  size_t best = std::string_view::npos, len = 0;
  for (std::string_view cmd : {"\\boxed", "\\fbox"}) {
    const size_t p = text.rfind(cmd);
    if (p != std::string_view::npos && (best == std::string_view::npos || p > best)) {
      best = p;
      len = cmd.size();
    }
  }
  return {best, len};
}

std::string last_number(std::string_view text) {
  static const std::regex kNum(R"(-?\d[\d,]*(\.\d+)?(/\d+)?|-?\.\d+)");
  std::string s(text);
  std::string last;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), kNum); it != std::sregex_iterator(); ++it) last = it->str();
  while (!last.empty() && last.back() == ',') last.pop_back();
  return last;
}

}  // namespace

bool has_box_command(std::string_view text) { return last_box_command(text).first != std::string_view::npos; }

bool balanced_latex(std::string_view s) {
  int braces = 0, brackets = 0, left_right = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\\') {
      if (i + 1 >= s.size()) return false;  // a lone trailing backslash
      const char n = s[i + 1];
      if (n == '{' || n == '}') {  // \{ \}: set braces, grouped like brackets
        if ((brackets += n == '{' ? 1 : -1) < 0) return false;
        ++i;
        continue;
      }
      size_t j = i + 1;
      while (j < s.size() && std::isalpha(static_cast<unsigned char>(s[j]))) ++j;
      const std::string_view name = s.substr(i + 1, j - i - 1);
      if (name == "left" || name == "right") {
        if ((left_right += name == "left" ? 1 : -1) < 0) return false;
        // Its delimiter pairs through \left/\right, not as a bracket: \left\{ x \right.
        while (j < s.size() && s[j] == ' ') ++j;
        if (j >= s.size()) return false;
        if (s[j] == '\\') {
          size_t k = j + 1;
          while (k < s.size() && std::isalpha(static_cast<unsigned char>(s[k]))) ++k;
          j = k == j + 1 ? j + 2 : k;  // \{ \| or \langle
        } else {
          ++j;
        }
        i = j - 1;
        continue;
      }
      i = j == i + 1 ? i + 1 : j - 1;  // \\, \, \( are one escaped character
      continue;
    }
    if (c == '{') ++braces;
    if (c == '}' && --braces < 0) return false;
    if (c == '(' || c == '[') ++brackets;
    if ((c == ')' || c == ']') && --brackets < 0) return false;
  }
  return braces == 0 && brackets == 0 && left_right == 0;
}

std::optional<std::string> extract_boxed(std::string_view text) {
  const auto [best, len] = last_box_command(text);
  if (best == std::string_view::npos) return std::nullopt;
  size_t i = best + len;
  if (i < text.size() && text[i] == '{') {
    const size_t close = match_brace(text, i);
    if (close == std::string_view::npos) return std::nullopt;
    return trim(text.substr(i + 1, close - i - 1));
  }
  if (i < text.size() && text[i] == ' ') {  // \boxed 5
    while (i < text.size() && text[i] == ' ') ++i;
    size_t e = i;
    while (e < text.size() && text[e] != '$' && !std::isspace(static_cast<unsigned char>(text[e]))) ++e;
    if (e > i) return std::string(text.substr(i, e - i));
  }
  return std::nullopt;
}

std::string extract_answer(std::string_view completion) {
  if (auto b = extract_boxed(completion)) return *b;
  if (has_box_command(completion)) return "";  // the last box never closes: no answer
  if (auto a = last_tag_block(completion, "<answer>", "</answer>")) {
    if (auto b = extract_boxed(*a)) return *b;
    return has_box_command(*a) ? "" : *a;
  }
  if (auto h = last_tag_block(completion, "####", "\n")) return last_number(*h).empty() ? *h : last_number(*h);
  return last_number(completion);
}

std::string answer_text(std::string_view s) {
  if (auto b = extract_boxed(s)) return *b;
  if (has_box_command(s)) return "";
  if (auto a = last_tag_block(s, "<answer>", "</answer>")) return *a;
  return trim(s);
}

bool math_equal(std::string_view gold, std::string_view pred) {
  if (!balanced_latex(gold) || !balanced_latex(pred)) return false;
  const Norm g = normalize(gold), p = normalize(pred);
  if (g.s.empty() || p.s.empty()) return false;
  if (struct_equal(g.s, p.s, 0)) return true;
  if (g.percent != p.percent) {  // 50\% and 0.5 denote the same share
    auto gv = numeric_value(g.s), pv = numeric_value(p.s);
    if (gv && pv && close(g.percent ? *gv / 100.0 : *gv, p.percent ? *pv / 100.0 : *pv)) return true;
  }
  return false;
}

std::string normalize_answer(std::string_view answer) {
  const Norm n = normalize(answer);
  if (!is_wordy(n.s)) {
    if (auto e = parse_expr(n.s)) {
      std::set<std::string> vars;
      collect_vars(*e, vars);
      if (vars.empty()) {
        const double v = eval_expr(*e, {});
        if (std::isfinite(v)) {
          if (v == std::round(v) && std::fabs(v) < 1e15) return fmt::format("{}", static_cast<long long>(v));
          return fmt::format("{:.10g}", v);
        }
      }
    }
  }
  return is_wordy(n.s) ? text_key(n.s) : remove_spaces(n.s);
}

bool verify(std::string_view gold, std::string_view pred) {
  const std::string g = answer_text(gold);
  const std::string p = answer_text(pred);
  if (math_equal(g, p)) return true;
  const bool tagged = has_box_command(pred) || pred.find("<answer>") != std::string_view::npos;
  if (tagged || !balanced_latex(pred)) return false;
  const Norm np = normalize(p);
  if ((!is_wordy(np.s) && parse_expr(np.s)) || is_set(np.s) || parse_bracketed(np.s) || parse_matrix(np.s)) return false;
  if (is_wordy(np.s) && !has_digit(np.s)) return false;
  const std::string last = extract_answer(pred);
  return !last.empty() && last != p && math_equal(g, last);
}

std::optional<double> numeric_value(std::string_view answer) {
  // Unbalanced LaTeX (a \left without \right, an open brace) is no answer to math_equal, so it has
  // no value here either: an answer with a value always equals itself.
  if (!balanced_latex(answer)) return std::nullopt;
  const Norm n = normalize(answer);
  auto e = parse_expr(n.s);
  if (!e) return std::nullopt;
  std::set<std::string> vars;
  collect_vars(*e, vars);
  if (!vars.empty()) return std::nullopt;
  const double v = eval_expr(*e, {});
  if (std::isnan(v)) return std::nullopt;
  return v;
}

}  // namespace r1::rewards
