// Python semantics the Jinja2 interpreter needs: str methods (CPython's str.upper/split/strip/
// replace/format with their Unicode rules), dict methods, %-formatting and bound methods.
#include "jinja/jinja_pystr.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "jinja/jinja_builtins.h"

namespace r1::jinja::py {

[[noreturn]] void type_error(const std::string& msg, int line) { throw JinjaError(msg, line); }

bool is_py_space(char32_t c) {
  return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
static bool is_letter(char32_t c) {
  const auto cat = utf8proc_category(utf8proc_int32_t(c));
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}
char32_t to_upper(char32_t c) { return char32_t(utf8proc_toupper(utf8proc_int32_t(c))); }
char32_t to_lower(char32_t c) { return char32_t(utf8proc_tolower(utf8proc_int32_t(c))); }

// Python's str.upper()/lower() apply Unicode's full case mappings (SpecialCasing.txt), where one
// code point may become several: 'ß'.upper() == 'SS'. These are the unconditional one-to-many
// mappings outside Greek iota-subscript forms (which keep utf8proc's simple mapping).
static const std::u32string* special_upper(char32_t c) {
  static const std::vector<std::pair<char32_t, std::u32string>> k = {
      {0x00DF, U"SS"},           {0x0149, U"\u02BCN"},      {0x01F0, U"J\u030C"},      {0x0390, U"\u0399\u0308\u0301"},
      {0x03B0, U"\u03A5\u0308\u0301"}, {0x0587, U"\u0535\u0552"}, {0x1E96, U"H\u0331"}, {0x1E97, U"T\u0308"},
      {0x1E98, U"W\u030A"},      {0x1E99, U"Y\u030A"},      {0x1E9A, U"A\u02BE"},      {0xFB00, U"FF"},
      {0xFB01, U"FI"},           {0xFB02, U"FL"},           {0xFB03, U"FFI"},          {0xFB04, U"FFL"},
      {0xFB05, U"ST"},           {0xFB06, U"ST"},           {0xFB13, U"\u0544\u0546"}, {0xFB14, U"\u0544\u0535"},
      {0xFB15, U"\u0544\u053B"}, {0xFB16, U"\u054E\u0546"}, {0xFB17, U"\u0544\u053D"}};
  for (const auto& [from, to] : k) {
    if (from == c) return &to;
  }
  return nullptr;
}

std::string str_upper(const std::string& s) {
  std::u32string out;
  for (char32_t c : utf8_decode(s)) {
    if (const std::u32string* m = c >= 0xDF ? special_upper(c) : nullptr) {
      out += *m;
    } else {
      out += to_upper(c);
    }
  }
  return utf8_encode(std::vector<char32_t>(out.begin(), out.end()));
}
std::string str_lower(const std::string& s) {
  std::vector<char32_t> out;
  for (char32_t c : utf8_decode(s)) {
    if (c == 0x130) {  // 'İ'.lower() == 'i̇' (SpecialCasing)
      out.push_back('i');
      out.push_back(0x307);
    } else {
      out.push_back(to_lower(c));
    }
  }
  return utf8_encode(out);
}
static std::string str_title(const std::string& s) {  // Python str.title()
  auto cps = utf8_decode(s);
  bool prev = false;
  for (auto& c : cps) {
    const bool cased = is_letter(c);
    if (cased) c = prev ? to_lower(c) : to_upper(c);
    prev = cased;
  }
  return utf8_encode(cps);
}
std::string str_capitalize(const std::string& s) {
  auto cps = utf8_decode(s);
  for (size_t i = 0; i < cps.size(); ++i) cps[i] = i == 0 ? to_upper(cps[i]) : to_lower(cps[i]);
  return utf8_encode(cps);
}

// str.strip family: chars none/undefined = whitespace.
std::string str_strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto cps = utf8_decode(s);
  std::vector<char32_t> set;
  const bool ws = chars.is_undefined() || chars.is_none();
  if (!ws) {
    if (!chars.is_string()) type_error("strip arg must be None or str", 0);
    set = utf8_decode(chars.str());
  }
  auto strip_it = [&](char32_t c) { return ws ? is_py_space(c) : std::find(set.begin(), set.end(), c) != set.end(); };
  size_t b = 0, e = cps.size();
  if (left) while (b < e && strip_it(cps[b])) ++b;
  if (right) while (e > b && strip_it(cps[e - 1])) --e;
  return utf8_encode(std::vector<char32_t>(cps.begin() + long(b), cps.begin() + long(e)));
}

List str_split(const std::string& s, const Value& sep, int64_t maxsplit, bool from_right) {
  List out;
  if (sep.is_undefined() || sep.is_none()) {
    auto cps = utf8_decode(s);
    std::vector<std::pair<size_t, size_t>> words;
    size_t i = 0;
    while (i < cps.size()) {
      while (i < cps.size() && is_py_space(cps[i])) ++i;
      if (i >= cps.size()) break;
      size_t j = i;
      while (j < cps.size() && !is_py_space(cps[j])) ++j;
      words.emplace_back(i, j);
      i = j;
    }
    if (maxsplit >= 0 && int64_t(words.size()) > maxsplit + 1) {
      // Merge the words past the split limit back into one piece (keeping inner whitespace,
      // dropping the outer whitespace on the side where splitting started).
      if (!from_right) {
        words[size_t(maxsplit)].second = cps.size();
        while (words[size_t(maxsplit)].second > 0 && is_py_space(cps[words[size_t(maxsplit)].second - 1]))
          --words[size_t(maxsplit)].second;
        words.resize(size_t(maxsplit) + 1);
      } else {
        const size_t keep_from = words.size() - size_t(maxsplit) - 1;
        std::pair<size_t, size_t> merged{0, words[keep_from].second};
        while (merged.first < cps.size() && is_py_space(cps[merged.first])) ++merged.first;
        words.erase(words.begin(), words.begin() + long(keep_from));
        words[0] = merged;
      }
    }
    for (auto [b, e] : words)
      out.emplace_back(utf8_encode(std::vector<char32_t>(cps.begin() + long(b), cps.begin() + long(e))));
    return out;
  }
  if (!sep.is_string()) type_error("must be str or None, not " + sep.type_name(), 0);
  const std::string& d = sep.str();
  if (d.empty()) type_error("empty separator", 0);
  if (!from_right) {
    size_t pos = 0;
    int64_t n = 0;
    while (maxsplit < 0 || n < maxsplit) {
      const size_t f = s.find(d, pos);
      if (f == std::string::npos) break;
      out.emplace_back(s.substr(pos, f - pos));
      pos = f + d.size();
      ++n;
    }
    out.emplace_back(s.substr(pos));
  } else {
    size_t end = s.size();
    int64_t n = 0;
    while (maxsplit < 0 || n < maxsplit) {
      if (end < d.size()) break;
      const size_t f = s.rfind(d, end - d.size());
      if (f == std::string::npos) break;
      out.insert(out.begin(), Value(s.substr(f + d.size(), end - f - d.size())));
      end = f;
      ++n;
    }
    out.insert(out.begin(), Value(s.substr(0, end)));
  }
  return out;
}

std::string str_replace(const std::string& s, const std::string& old, const std::string& rep, int64_t count) {
  std::string out;
  if (old.empty()) {  // Python inserts `rep` around every code point
    auto cps = utf8_decode(s);
    int64_t n = 0;
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (count < 0 || n < count) { out += rep; ++n; }
      if (i < cps.size()) utf8_append(out, cps[i]);
    }
    return out;
  }
  size_t pos = 0;
  int64_t n = 0;
  while (count < 0 || n < count) {
    const size_t f = s.find(old, pos);
    if (f == std::string::npos) break;
    out.append(s, pos, f - pos);
    out += rep;
    pos = f + old.size();
    ++n;
  }
  out.append(s, pos, std::string::npos);
  return out;
}

static int64_t cp_index(const std::string& s, size_t byte_pos) {  // byte offset -> code point index
  int64_t n = 0;
  for (size_t i = 0; i < byte_pos && i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) ++n;
  return n;
}

// Python %-formatting (`"%s" % x`, the `format` filter): %s %r %d %i %f %x %%, flags/width/precision.
std::string percent_format(const std::string& fmt, const Value& args, int line) {
  List values = args.kind() == Value::Kind::Tuple ? args.items() : List{args};
  const Dict* named = args.is_dict() ? &args.dict_ref() : nullptr;
  size_t next = 0;
  std::string out;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') { out += fmt[i]; continue; }
    if (++i >= fmt.size()) type_error("incomplete format", line);
    if (fmt[i] == '%') { out += '%'; continue; }
    Value v;
    if (fmt[i] == '(' && named) {
      const size_t close = fmt.find(')', i);
      if (close == std::string::npos) type_error("incomplete format key", line);
      const Value* f = named->find_str(fmt.substr(i + 1, close - i - 1));
      if (!f) type_error("format key not found", line);
      v = *f;
      i = close + 1;
    } else {
      if (next >= values.size()) type_error("not enough arguments for format string", line);
      v = values[next++];
    }
    std::string spec = "%";
    while (i < fmt.size() && std::string("-+ 0#").find(fmt[i]) != std::string::npos) spec += fmt[i++];
    while (i < fmt.size() && (std::isdigit(static_cast<unsigned char>(fmt[i])) || fmt[i] == '.')) spec += fmt[i++];
    if (i >= fmt.size()) type_error("incomplete format", line);
    const char conv = fmt[i];
    char buf[512];
    if (conv == 's' || conv == 'r') {
      const std::string s = conv == 's' ? v.to_str() : v.repr();
      std::snprintf(buf, sizeof buf, (spec + "s").c_str(), s.c_str());
      out += spec.size() == 1 ? s : std::string(buf);
    } else if (conv == 'd' || conv == 'i' || conv == 'x' || conv == 'X' || conv == 'o') {
      if (!v.is_number()) type_error("%" + std::string(1, conv) + " format: a number is required", line);
      std::snprintf(buf, sizeof buf, (spec + "ll" + conv).c_str(), static_cast<long long>(v.as_int()));
      out += buf;
    } else if (conv == 'f' || conv == 'F' || conv == 'e' || conv == 'g') {
      if (!v.is_number()) type_error("%f format: a number is required", line);
      std::snprintf(buf, sizeof buf, (spec + conv).c_str(), v.as_double());
      out += buf;
    } else {
      type_error(std::string("unsupported format character '") + conv + "'", line);
    }
  }
  if (!named && next < values.size()) type_error("not all arguments converted during string formatting", line);
  return out;
}

// Python str.format with {} / {0} / {name} fields (format specs are ignored except empty).
static std::string brace_format(const std::string& fmt, const Args& a) {
  std::string out;
  size_t auto_idx = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    const char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') { out += '{'; ++i; continue; }
    if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') { out += '}'; ++i; continue; }
    if (c != '{') { out += c; continue; }
    const size_t close = fmt.find('}', i);
    if (close == std::string::npos) type_error("Single '{' encountered in format string", a.line);
    std::string field = fmt.substr(i + 1, close - i - 1);
    const size_t colon = field.find(':');
    if (colon != std::string::npos) field.resize(colon);
    Value v;
    if (field.empty()) {
      if (auto_idx >= a.pos.size()) type_error("Replacement index out of range", a.line);
      v = a.pos[auto_idx++];
    } else if (std::isdigit(static_cast<unsigned char>(field[0]))) {
      const size_t k = size_t(std::stoul(field));
      if (k >= a.pos.size()) type_error("Replacement index out of range", a.line);
      v = a.pos[k];
    } else {
      bool found = false;
      for (const auto& [k, val] : a.kw)
        if (k == field) { v = val; found = true; }
      if (!found) type_error("format: missing key '" + field + "'", a.line);
    }
    out += v.to_str();
    i = close;
  }
  return out;
}

static Value need_string(const Value& v, const char* what, int line) {
  if (!v.is_string()) type_error(std::string(what) + " arg must be str, not " + v.type_name(), line);
  return v;
}

int64_t int_arg(const Value& v, int64_t dflt, int line) {
  if (v.is_undefined() || v.is_none()) return dflt;
  if (!v.is_int()) type_error("an integer is required, not " + v.type_name(), line);
  return v.as_int();
}

static bool starts_or_ends(const std::string& s, const Value& arg, bool ends, int line) {
  List cands = arg.kind() == Value::Kind::Tuple ? arg.items() : List{arg};
  for (const auto& c : cands) {
    if (!c.is_string()) type_error("startswith/endswith arg must be str or a tuple of str", line);
    const std::string& p = c.str();
    if (p.size() > s.size()) continue;
    if (ends ? s.compare(s.size() - p.size(), p.size(), p) == 0 : s.compare(0, p.size(), p) == 0) return true;
  }
  return false;
}

Value str_method(const std::string& s, const std::string& name, const Args& a) {
  const int line = a.line;
  if (name == "split" || name == "rsplit")
    return Value::list(str_split(s, a.get(0, "sep"), int_arg(a.get(1, "maxsplit"), -1, line), name == "rsplit"));
  if (name == "strip") return Value(str_strip(s, a.get(0, "chars"), true, true));
  if (name == "lstrip") return Value(str_strip(s, a.get(0, "chars"), true, false));
  if (name == "rstrip") return Value(str_strip(s, a.get(0, "chars"), false, true));
  if (name == "startswith") return Value(starts_or_ends(s, a.get(0, "prefix"), false, line));
  if (name == "endswith") return Value(starts_or_ends(s, a.get(0, "suffix"), true, line));
  if (name == "upper") return Value(str_upper(s));
  if (name == "lower" || name == "casefold") return Value(str_lower(s));
  if (name == "title") return Value(str_title(s));
  if (name == "capitalize") return Value(str_capitalize(s));
  if (name == "swapcase") {
    auto cps = utf8_decode(s);
    for (auto& c : cps) c = to_upper(c) == c ? to_lower(c) : to_upper(c);
    return Value(utf8_encode(cps));
  }
  if (name == "replace")
    return Value(str_replace(s, need_string(a.get(0, "old"), "replace", line).str(),
                             need_string(a.get(1, "new"), "replace", line).str(), int_arg(a.get(2, "count"), -1, line)));
  if (name == "find" || name == "index" || name == "rfind" || name == "rindex") {
    const std::string sub = need_string(a.get(0, "sub"), name.c_str(), line).str();
    const size_t f = name[0] == 'r' ? s.rfind(sub) : s.find(sub);
    if (f == std::string::npos) {
      if (name.find("index") != std::string::npos) type_error("substring not found", line);
      return Value(int64_t(-1));
    }
    return Value(cp_index(s, f));
  }
  if (name == "count") {
    const std::string sub = need_string(a.get(0, "sub"), "count", line).str();
    if (sub.empty()) return Value(int64_t(utf8_decode(s).size() + 1));
    int64_t n = 0;
    for (size_t p = s.find(sub); p != std::string::npos; p = s.find(sub, p + sub.size())) ++n;
    return Value(n);
  }
  if (name == "join") {
    std::string out;
    const List items = iterate(a.get(0, "iterable"), line);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string()) type_error("sequence item " + std::to_string(i) + ": expected str instance", line);
      if (i) out += s;
      out += items[i].str();
    }
    return Value(out);
  }
  if (name == "format") return Value(brace_format(s, a));
  if (name == "removeprefix" || name == "removesuffix") {
    const std::string p = need_string(a.get(0, "prefix"), name.c_str(), line).str();
    if (name == "removeprefix") return Value(s.compare(0, p.size(), p) == 0 ? s.substr(p.size()) : s);
    return Value(p.size() <= s.size() && s.compare(s.size() - p.size(), p.size(), p) == 0 ? s.substr(0, s.size() - p.size()) : s);
  }
  if (name == "splitlines") {
    List out;
    std::string cur;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '\n' || s[i] == '\r') {
        out.emplace_back(cur);
        cur.clear();
        if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
      } else {
        cur += s[i];
      }
    }
    if (!cur.empty()) out.emplace_back(cur);
    return Value::list(std::move(out));
  }
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal" || name == "isalpha" || name == "isalnum" ||
      name == "isspace" || name == "isupper" || name == "islower") {
    auto cps = utf8_decode(s);
    if (cps.empty()) return Value(false);
    bool any_cased = false;
    for (char32_t c : cps) {
      const bool digit = c >= '0' && c <= '9';
      if (name == "isspace" && !is_py_space(c)) return Value(false);
      if ((name == "isdigit" || name == "isnumeric" || name == "isdecimal") && !digit) return Value(false);
      if (name == "isalpha" && !is_letter(c)) return Value(false);
      if (name == "isalnum" && !is_letter(c) && !digit) return Value(false);
      if (name == "isupper" && to_lower(c) != c) any_cased = true;
      if (name == "isupper" && to_upper(c) != c) return Value(false);
      if (name == "islower" && to_upper(c) != c) any_cased = true;
      if (name == "islower" && to_lower(c) != c) return Value(false);
    }
    if (name == "isupper" || name == "islower") return Value(any_cased);
    return Value(true);
  }
  if (name == "zfill") {
    const int64_t w = int_arg(a.get(0, "width"), 0, line);
    auto cps = utf8_decode(s);
    if (int64_t(cps.size()) >= w) return Value(s);
    const std::string pad(size_t(w - int64_t(cps.size())), '0');
    if (!s.empty() && (s[0] == '-' || s[0] == '+')) return Value(s.substr(0, 1) + pad + s.substr(1));
    return Value(pad + s);
  }
  if (name == "ljust" || name == "rjust" || name == "center") {
    const int64_t w = int_arg(a.get(0, "width"), 0, line);
    const std::string fill = a.has(1, "fillchar") ? need_string(a.get(1, "fillchar"), name.c_str(), line).str() : " ";
    const int64_t n = int64_t(utf8_decode(s).size());
    if (n >= w || w > (1 << 24)) return Value(s);
    const int64_t total = w - n;
    int64_t left = name == "rjust" ? total : (name == "ljust" ? 0 : total / 2 + (total & w & 1));
    std::string out;
    for (int64_t i = 0; i < left; ++i) out += fill;
    out += s;
    for (int64_t i = 0; i < total - left; ++i) out += fill;
    return Value(out);
  }
  if (name == "partition" || name == "rpartition") {
    const std::string sep = need_string(a.get(0, "sep"), name.c_str(), line).str();
    const size_t f = name == "partition" ? s.find(sep) : s.rfind(sep);
    if (f == std::string::npos)
      return name == "partition" ? Value::tuple({Value(s), Value(""), Value("")}) : Value::tuple({Value(""), Value(""), Value(s)});
    return Value::tuple({Value(s.substr(0, f)), Value(sep), Value(s.substr(f + sep.size()))});
  }
  type_error("'str' object has no attribute '" + name + "'", line);
}

static const std::set<std::string>& str_methods() {
  static const std::set<std::string> k = {
      "split", "rsplit", "strip", "lstrip", "rstrip", "startswith", "endswith", "upper", "lower", "casefold",
      "title", "capitalize", "swapcase", "replace", "find", "index", "rfind", "rindex", "count", "join", "format",
      "removeprefix", "removesuffix", "splitlines", "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum",
      "isspace", "isupper", "islower", "zfill", "ljust", "rjust", "center", "partition", "rpartition"};
  return k;
}

Value dict_method(const Value& d, const std::string& name, const Args& a) {
  if (name == "get") {
    const Value* v = d.dict_ref().find(a.get(0, "key"));
    if (v) return *v;
    const Value dflt = a.get(1, "default");
    return dflt.is_undefined() ? Value::none() : dflt;
  }
  List out;
  for (const auto& [k, v] : d.dict_ref().items) {
    if (name == "items") out.push_back(Value::tuple({k, v}));
    else if (name == "keys") out.push_back(k);
    else if (name == "values") out.push_back(v);
  }
  if (name == "copy") return Value::dict(d.dict_ref());
  return Value::list(std::move(out));
}

static bool is_unsafe_method(const Value& obj, const std::string& name) {
  static const std::set<std::string> list_m = {"append", "extend", "insert", "pop", "remove", "reverse", "sort", "clear"};
  static const std::set<std::string> dict_m = {"pop", "popitem", "setdefault", "update", "clear"};
  if (obj.kind() == Value::Kind::List) return list_m.count(name) > 0;
  if (obj.is_dict()) return dict_m.count(name) > 0;
  return false;
}

Value bind(const Value& obj, const std::string& name) {
  if (obj.is_string() && str_methods().count(name)) {
    const std::string s = obj.str();
    return Value::function([s, name](Args& a) { return str_method(s, name, a); }, name);
  }
  if (obj.is_dict() && (name == "get" || name == "items" || name == "keys" || name == "values" || name == "copy"))
    return Value::function([obj, name](Args& a) { return dict_method(obj, name, a); }, name);
  if (obj.is_list() && (name == "index" || name == "count")) {
    return Value::function([obj, name](Args& a) {
      const Value x = a.get(0, "value");
      int64_t n = 0;
      for (size_t i = 0; i < obj.items().size(); ++i) {
        if (!equal(obj.items()[i], x)) continue;
        if (name == "index") return Value(int64_t(i));
        ++n;
      }
      if (name == "index") type_error(x.repr() + " is not in list", a.line);
      return Value(n);
    }, name);
  }
  if (is_unsafe_method(obj, name)) {
    const std::string tn = obj.type_name();
    return Value::function([tn, name](Args& a) -> Value {
      type_error("access to attribute '" + name + "' of '" + tn + "' object is unsafe.", a.line);
    }, name);
  }
  return Value::undefined(name);
}

int64_t norm_index(int64_t i, int64_t n) { return i < 0 ? i + n : i; }

}  // namespace r1::jinja::py
