// Jinja2's builtin filters and tests, Python str/dict/list methods and transformers' globals,
// with the semantics of jinja2/filters.py, jinja2/tests.py and CPython's str methods.
#include "jinja/jinja_builtins.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <set>

namespace r1::jinja {
namespace {

[[noreturn]] void type_error(const std::string& msg, int line) { throw JinjaError(msg, line); }

bool is_py_space(char32_t c) {
  return (c >= 9 && c <= 13) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}
bool is_letter(char32_t c) {
  const auto cat = utf8proc_category(utf8proc_int32_t(c));
  return cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_LO;
}
char32_t to_upper(char32_t c) { return char32_t(utf8proc_toupper(utf8proc_int32_t(c))); }
char32_t to_lower(char32_t c) { return char32_t(utf8proc_tolower(utf8proc_int32_t(c))); }

// Python's str.upper()/lower() apply Unicode's full case mappings (SpecialCasing.txt), where one
// code point may become several: 'ß'.upper() == 'SS'. These are the unconditional one-to-many
// mappings outside Greek iota-subscript forms (which keep utf8proc's simple mapping).
const std::u32string* special_upper(char32_t c) {
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
std::string str_title(const std::string& s) {  // Python str.title()
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

int64_t cp_index(const std::string& s, size_t byte_pos) {  // byte offset -> code point index
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
std::string brace_format(const std::string& fmt, const Args& a) {
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

Value need_string(const Value& v, const char* what, int line) {
  if (!v.is_string()) type_error(std::string(what) + " arg must be str, not " + v.type_name(), line);
  return v;
}

int64_t int_arg(const Value& v, int64_t dflt, int line) {
  if (v.is_undefined() || v.is_none()) return dflt;
  if (!v.is_int()) type_error("an integer is required, not " + v.type_name(), line);
  return v.as_int();
}

bool starts_or_ends(const std::string& s, const Value& arg, bool ends, int line) {
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

const std::set<std::string>& str_methods() {
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

bool is_unsafe_method(const Value& obj, const std::string& name) {
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

}  // namespace

[[noreturn]] void undefined_error(const Value& u, int line) {
  throw JinjaError("'" + (u.undefined_name().empty() ? std::string("value") : u.undefined_name()) + "' is undefined",
                   line);
}

List iterate(const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List:
    case Value::Kind::Tuple: return v.items();
    case Value::Kind::Generator: {  // single pass, like a Python generator
      List out = std::move(v.items());
      v.items().clear();
      return out;
    }
    case Value::Kind::Dict: {
      List out;
      for (const auto& [k, val] : v.dict_ref().items) out.push_back(k);
      return out;
    }
    case Value::Kind::String: {
      List out;
      for (char32_t c : utf8_decode(v.str())) {
        std::string s;
        utf8_append(s, c);
        out.emplace_back(std::move(s));
      }
      return out;
    }
    default: type_error("'" + v.type_name() + "' object is not iterable", line);
  }
}

int64_t py_len(const Value& v, int line) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return int64_t(utf8_decode(v.str()).size());
    case Value::Kind::List:
    case Value::Kind::Tuple: return int64_t(v.items().size());
    case Value::Kind::Dict: return int64_t(v.dict_ref().items.size());
    default: type_error("object of type '" + v.type_name() + "' has no len()", line);
  }
}

Value get_attr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  if (!name.empty() && name[0] == '_') return Value::undefined(name);  // sandbox: no private attributes
  if (obj.is_namespace()) {
    const Value* v = obj.dict_ref().find_str(name);
    return v ? *v : Value::undefined(name);
  }
  Value m = bind(obj, name);
  if (!m.is_undefined()) return m;
  if (obj.is_dict()) {
    const Value* v = obj.dict_ref().find_str(name);
    return v ? *v : Value::undefined(name);
  }
  return Value::undefined(name);
}

Value get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  if (obj.is_dict()) {
    if (const Value* v = obj.dict_ref().find(key)) return *v;
  } else if (obj.is_list() && key.is_int()) {
    const int64_t n = int64_t(obj.items().size());
    const int64_t i = norm_index(key.as_int(), n);
    if (i >= 0 && i < n) return obj.items()[size_t(i)];
    return Value::undefined();
  } else if (obj.is_string() && key.is_int()) {
    auto cps = utf8_decode(obj.str());
    const int64_t i = norm_index(key.as_int(), int64_t(cps.size()));
    if (i < 0 || i >= int64_t(cps.size())) return Value::undefined();
    std::string s;
    utf8_append(s, cps[size_t(i)]);
    return Value(s);
  }
  if (key.is_string()) return get_attr(obj, key.str(), line);
  return Value::undefined(key.to_str());
}

Value slice(const Value& obj, const Value& start_v, const Value& stop_v, const Value& step_v, int line) {
  if (obj.is_undefined()) undefined_error(obj, line);
  auto opt = [&](const Value& v) -> std::pair<bool, int64_t> {
    if (v.is_undefined() || v.is_none()) return {false, 0};
    if (!v.is_int()) type_error("slice indices must be integers or None", line);
    return {true, v.as_int()};
  };
  const auto [has_step, step0] = opt(step_v);
  const int64_t step = has_step ? step0 : 1;
  if (step == 0) type_error("slice step cannot be zero", line);
  std::vector<char32_t> cps;
  int64_t n = 0;
  if (obj.is_string()) {
    cps = utf8_decode(obj.str());
    n = int64_t(cps.size());
  } else if (obj.is_list()) {
    n = int64_t(obj.items().size());
  } else {  // compiled as a plain Python slice: errors propagate
    type_error("'" + obj.type_name() + "' object is not subscriptable", line);
  }
  // CPython's PySlice_AdjustIndices.
  auto adjust = [&](std::pair<bool, int64_t> v, bool is_start) {
    if (!v.first) return step < 0 ? (is_start ? n - 1 : int64_t(-1)) : (is_start ? int64_t(0) : n);
    int64_t i = v.second;
    if (i < 0) {
      i += n;
      if (i < 0) i = step < 0 ? -1 : 0;
    } else if (i >= n) {
      i = step < 0 ? n - 1 : n;
    }
    return i;
  };
  const int64_t start = adjust(opt(start_v), true);
  const int64_t stop = adjust(opt(stop_v), false);
  std::vector<int64_t> idx;
  if (step > 0) for (int64_t i = start; i < stop; i += step) idx.push_back(i);
  else for (int64_t i = start; i > stop; i += step) idx.push_back(i);
  if (obj.is_string()) {
    std::string out;
    for (int64_t i : idx) utf8_append(out, cps[size_t(i)]);
    return Value(out);
  }
  List out;
  for (int64_t i : idx) out.push_back(obj.items()[size_t(i)]);
  return obj.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

// Jinja2's make_attrgetter: "a.b.0" walks attributes/items.
static Value attr_path(const Value& v, const Value& attribute, int line) {
  if (attribute.is_int()) return get_item(v, attribute, line);
  Value cur = v;
  const std::string path = attribute.to_str();
  size_t pos = 0;
  while (true) {
    const size_t dot = path.find('.', pos);
    const std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    const bool numeric = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
    cur = numeric ? get_item(cur, Value(int64_t(std::stoll(part))), line) : get_item(cur, Value(part), line);
    if (dot == std::string::npos) break;
    pos = dot + 1;
  }
  return cur;
}

static std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

static Args shift_args(const Args& a, size_t n) {  // drops the first n positional arguments
  Args out;
  out.line = a.line;
  out.kw = a.kw;
  if (a.pos.size() > n) out.pos.assign(a.pos.begin() + long(n), a.pos.end());
  return out;
}

static Value sort_key(const Value& v, bool case_sensitive) {
  if (!case_sensitive && v.is_string()) return Value(str_lower(v.str()));
  return v;
}

Value call_filter(const std::string& name, const Value& v, const Args& a) {
  const int line = a.line;
  if (name == "default" || name == "d") {
    const bool boolean = a.get(1, "boolean").truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) {
      const Value d = a.get(0, "default_value");
      return d.is_undefined() ? Value("") : d;
    }
    return v;
  }
  if (name == "length" || name == "count") return Value(py_len(v, line));
  if (name == "string") return Value(v.to_str());
  if (name == "safe") return v.is_string() ? v : Value(v.to_str());  // Markup(value) is a str
  if (name == "pprint") return Value(v.repr());
  if (name == "escape" || name == "e" || name == "forceescape") return Value(html_escape(v.to_str()));
  if (name == "upper") return Value(str_upper(v.to_str()));
  if (name == "lower") return Value(str_lower(v.to_str()));
  if (name == "capitalize") return Value(str_capitalize(v.to_str()));
  if (name == "title") {  // Jinja2's do_title: words start after [-\s({\[<]
    auto cps = utf8_decode(v.to_str());
    bool start = true;
    for (auto& c : cps) {
      const bool sep = is_py_space(c) || c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
      if (sep) { start = true; continue; }
      c = start ? to_upper(c) : to_lower(c);
      start = false;
    }
    return Value(utf8_encode(cps));
  }
  if (name == "trim") return Value(str_strip(v.to_str(), a.get(0, "chars"), true, true));
  if (name == "replace") {
    return Value(str_replace(v.to_str(), a.get(0, "old").to_str(), a.get(1, "new").to_str(),
                             int_arg(a.get(2, "count"), -1, line)));
  }
  if (name == "tojson") {
    // transformers: json.dumps(x, ensure_ascii=False, indent=indent, separators=separators, sort_keys=sort_keys)
    const Value ind = a.get(0, "indent");
    const int indent = (ind.is_undefined() || ind.is_none()) ? -1 : int(int_arg(ind, 0, line));
    std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
    const Value seps = a.get(2, "separators");
    if (seps.is_list() && seps.items().size() == 2) {
      item_sep = seps.items()[0].to_str();
      key_sep = seps.items()[1].to_str();
    }
    return Value(to_json(v, indent, a.get(1, "ensure_ascii").truthy(), item_sep, key_sep,
                         a.get(3, "sort_keys").truthy(), line));
  }
  if (name == "first") {
    if (v.is_generator()) {
      if (v.items().empty()) return Value::undefined();
      Value f = v.items().front();
      v.items().erase(v.items().begin());
      return f;
    }
    if (v.is_list()) return v.items().empty() ? Value::undefined() : v.items().front();
    const List it = iterate(v, line);
    return it.empty() ? Value::undefined() : it.front();
  }
  if (name == "last") {
    if (v.is_generator()) type_error("'generator' object is not reversible", line);
    const List it = iterate(v, line);
    return it.empty() ? Value::undefined() : it.back();
  }
  if (name == "list") return Value::list(iterate(v, line));
  if (name == "items") {
    if (v.is_undefined()) return Value::list();
    if (!v.is_dict()) type_error("items filter: expected a mapping, got " + v.type_name(), line);
    return Value::generator(dict_method(v, "items", a).items());
  }
  if (name == "join") {
    const Value sep = a.get(0, "d");
    const Value attribute = a.get(1, "attribute");
    std::string out;
    const List it = iterate(v, line);
    for (size_t i = 0; i < it.size(); ++i) {
      if (i) out += sep.is_undefined() ? "" : sep.to_str();
      out += attribute.is_undefined() ? it[i].to_str() : attr_path(it[i], attribute, line).to_str();
    }
    return Value(out);
  }
  if ((name == "int" || name == "float" || name == "round" || name == "abs") && v.is_undefined())
    undefined_error(v, line);
  if (name == "int") {
    const Value dflt = a.has(0, "default") ? a.get(0, "default") : Value(int64_t(0));
    if (v.is_number()) return Value(v.as_int());
    if (v.is_string()) {
      const std::string s = str_strip(v.str(), Value::undefined(), true, true);
      const int base = int(int_arg(a.get(1, "base"), 10, line));
      try {
        size_t used = 0;
        const long long x = std::stoll(s, &used, base);
        if (used == s.size()) return Value(int64_t(x));
      } catch (const std::exception&) {
      }
      try {
        size_t used = 0;
        const double d = std::stod(s, &used);
        if (used == s.size() && std::isfinite(d)) return Value(int64_t(d));
      } catch (const std::exception&) {
      }
    }
    return dflt;
  }
  if (name == "float") {
    const Value dflt = a.has(0, "default") ? a.get(0, "default") : Value(0.0);
    if (v.is_number()) return Value(v.as_double());
    if (v.is_string()) {
      try {
        size_t used = 0;
        const std::string s = str_strip(v.str(), Value::undefined(), true, true);
        const double d = std::stod(s, &used);
        if (used == s.size()) return Value(d);
      } catch (const std::exception&) {
      }
    }
    return dflt;
  }
  if (name == "abs") {
    if (v.is_float()) return Value(std::fabs(v.as_double()));
    if (v.is_int()) return Value(v.as_int() < 0 ? -v.as_int() : v.as_int());
    type_error("bad operand type for abs(): '" + v.type_name() + "'", line);
  }
  if (name == "round") {
    if (!v.is_number()) type_error("type " + v.type_name() + " doesn't define __round__ method", line);
    const int64_t prec = int_arg(a.get(0, "precision"), 0, line);
    if (!v.is_float() && (!a.has(1, "method") || a.get(1, "method").to_str() == "common"))
      return Value(v.as_int());  // Python round(int, n) is the int
    const std::string method = a.has(1, "method") ? a.get(1, "method").to_str() : "common";
    const double scale = std::pow(10.0, double(prec));
    const double x = v.as_double() * scale;
    double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::nearbyint(x);
    return Value(r / scale);
  }
  if (name == "reverse") {
    if (v.is_string()) {
      auto cps = utf8_decode(v.str());
      std::reverse(cps.begin(), cps.end());
      return Value(utf8_encode(cps));
    }
    List it = iterate(v, line);
    std::reverse(it.begin(), it.end());
    return Value::generator(std::move(it));
  }
  if (name == "map") {
    List out;
    if (a.has(99, "attribute")) {
      const Value attribute = a.get(99, "attribute");
      const Value dflt = a.get(99, "default");
      for (const Value& x : iterate(v, line)) {
        Value r = attr_path(x, attribute, line);
        out.push_back(r.is_undefined() && !dflt.is_undefined() ? dflt : r);
      }
    } else {
      if (a.pos.empty()) type_error("map requires a filter argument", line);
      const std::string f = a.pos[0].to_str();
      const Args rest = shift_args(a, 1);
      for (const Value& x : iterate(v, line)) out.push_back(call_filter(f, x, rest));
    }
    return Value::generator(std::move(out));
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    const bool attr = name.size() > 6;
    const bool want = name[0] == 's';
    size_t k = 0;
    Value attribute;
    if (attr) {
      if (a.pos.empty()) type_error(name + " requires an attribute", line);
      attribute = a.pos[k++];
    }
    std::string test;
    if (a.pos.size() > k) test = a.pos[k++].to_str();
    const Args rest = shift_args(a, k);
    List out;
    for (const Value& x : iterate(v, line)) {
      const Value t = attr ? attr_path(x, attribute, line) : x;
      const bool r = test.empty() ? t.truthy() : call_test(test, t, rest);
      if (r == want) out.push_back(x);
    }
    return Value::generator(std::move(out));
  }
  if (name == "unique") {
    const bool cs = a.get(0, "case_sensitive").truthy();
    const Value attribute = a.get(1, "attribute");
    List out, seen;
    for (const Value& x : iterate(v, line)) {
      const Value key = sort_key(attribute.is_undefined() ? x : attr_path(x, attribute, line), cs);
      if (std::none_of(seen.begin(), seen.end(), [&](const Value& s) { return equal(s, key); })) {
        seen.push_back(key);
        out.push_back(x);
      }
    }
    return Value::generator(std::move(out));
  }
  if (name == "sort" || name == "max" || name == "min") {
    const bool is_sort = name == "sort";
    const bool reverse = is_sort && a.get(0, "reverse").truthy();
    const bool cs = a.get(is_sort ? 1 : 0, "case_sensitive").truthy();
    const Value attribute = a.get(is_sort ? 2 : 1, "attribute");
    List it = iterate(v, line);
    auto key = [&](const Value& x) { return sort_key(attribute.is_undefined() ? x : attr_path(x, attribute, line), cs); };
    if (!is_sort) {
      if (it.empty()) return Value::undefined();
      Value best = it[0];
      for (size_t i = 1; i < it.size(); ++i) {
        const Value& x = it[i];
        const int c = compare(key(x), key(best), line);
        if (name == "max" ? c > 0 : c < 0) best = x;
      }
      return best;
    }
    std::stable_sort(it.begin(), it.end(), [&](const Value& x, const Value& y) {
      return reverse ? compare(key(y), key(x), line) < 0 : compare(key(x), key(y), line) < 0;
    });
    return Value::list(std::move(it));
  }
  if (name == "dictsort") {
    if (!v.is_dict()) type_error("dictsort: expected a mapping", line);
    const bool cs = a.get(0, "case_sensitive").truthy();
    const bool by_value = a.get(1, "by").to_str() == "value";
    const bool reverse = a.get(2, "reverse").truthy();
    List it = dict_method(v, "items", a).items();
    std::stable_sort(it.begin(), it.end(), [&](const Value& x, const Value& y) {
      const Value kx = sort_key(x.items()[by_value ? 1 : 0], cs), ky = sort_key(y.items()[by_value ? 1 : 0], cs);
      return reverse ? compare(ky, kx, line) < 0 : compare(kx, ky, line) < 0;
    });
    return Value::list(std::move(it));
  }
  if (name == "sum") {
    const Value attribute = a.get(0, "attribute");
    Value acc = a.has(1, "start") ? a.get(1, "start") : Value(int64_t(0));
    for (const Value& x : iterate(v, line)) {
      const Value y = attribute.is_undefined() ? x : attr_path(x, attribute, line);
      if (!acc.is_number() || !y.is_number()) type_error("sum: unsupported operand types", line);
      acc = (acc.is_float() || y.is_float()) ? Value(acc.as_double() + y.as_double()) : Value(acc.as_int() + y.as_int());
    }
    return acc;
  }
  if (name == "batch") {
    const int64_t n = int_arg(a.get(0, "linecount"), 1, line);
    if (n <= 0) type_error("batch: linecount must be positive", line);
    const Value fill = a.get(1, "fill_with");
    List out, cur;
    for (const Value& x : iterate(v, line)) {
      cur.push_back(x);
      if (int64_t(cur.size()) == n) { out.push_back(Value::list(std::move(cur))); cur.clear(); }
    }
    if (!cur.empty()) {
      if (!fill.is_undefined() && !fill.is_none()) while (int64_t(cur.size()) < n) cur.push_back(fill);
      out.push_back(Value::list(std::move(cur)));
    }
    return Value::generator(std::move(out));
  }
  if (name == "indent") {
    if (!v.is_string()) type_error("unsupported operand type(s) for +=: '" + v.type_name() + "' and 'str'", line);
    const Value w = a.get(0, "width");
    const std::string ind = w.is_string() ? w.str() : std::string(size_t(std::clamp<int64_t>(int_arg(w, 4, line), 0, 1 << 16)), ' ');
    const bool first = a.get(1, "first").truthy(), blank = a.get(2, "blank").truthy();
    const List lines = str_method(v.to_str() + "\n", "splitlines", Args{}).items();
    std::string rv;
    for (size_t i = 0; i < lines.size(); ++i) {
      const std::string& l = lines[i].str();
      if (i == 0) { rv = l; continue; }
      rv += "\n";
      if (blank || !l.empty()) rv += ind;
      rv += l;
    }
    return Value(first ? ind + rv : rv);
  }
  if (name == "wordcount") {  // len(re.findall(r"\w+", s))
    int64_t n = 0;
    bool in_word = false;
    for (char32_t c : utf8_decode(v.to_str())) {
      const auto cat = utf8proc_category(utf8proc_int32_t(c));
      const bool w = c == '_' || (cat >= UTF8PROC_CATEGORY_LU && cat <= UTF8PROC_CATEGORY_NO);
      if (w && !in_word) ++n;
      in_word = w;
    }
    return Value(n);
  }
  if (name == "center") {
    Args b = a;
    b.pos.resize(1, Value(int64_t(80)));
    return str_method(v.to_str(), "center", b);
  }
  if (name == "format") {
    if (!a.kw.empty()) {
      Dict d;
      for (const auto& [k, x] : a.kw) d.set(Value(k), x);
      return Value(percent_format(v.to_str(), Value::dict(std::move(d)), line));
    }
    return Value(percent_format(v.to_str(), Value::tuple(a.pos), line));
  }
  if (name == "attr") return get_attr(v, a.get(0, "name").to_str(), line);
  if (name == "striptags") {  // tags removed, whitespace collapsed
    std::string out;
    bool in_tag = false;
    for (char c : v.to_str()) {
      if (c == '<') in_tag = true;
      else if (c == '>' && in_tag) in_tag = false;
      else if (!in_tag) out += c;
    }
    List words = str_split(out, Value::none(), -1, false);
    std::string joined;
    for (size_t i = 0; i < words.size(); ++i) joined += (i ? " " : "") + words[i].str();
    return Value(joined);
  }
  type_error("no filter named '" + name + "'", line);
}

bool call_test(const std::string& name, const Value& v, const Args& a) {
  const int line = a.line;
  using K = Value::Kind;
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "integer") return v.kind() == K::Int;
  if (name == "float") return v.is_float();
  if (name == "number") return v.is_number();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_dict();
  if (name == "iterable") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict() || v.is_generator();
  if (name == "sequence") return v.is_undefined() || v.is_string() || v.is_list() || v.is_dict();
  if (name == "callable") return v.is_callable();
  if (name == "escaped") return false;
  if (name == "odd" || name == "even") {
    if (!v.is_int()) type_error("odd/even test needs an integer", line);
    const int64_t r = ((v.as_int() % 2) + 2) % 2;
    return name == "odd" ? r == 1 : r == 0;
  }
  if (name == "divisibleby") {
    if (!v.is_number()) type_error("unsupported operand type(s) for %: '" + v.type_name() + "' and 'int'", line);
    const int64_t n = int_arg(a.get(0, "num"), 0, line);
    if (n == 0) type_error("integer division or modulo by zero", line);
    return v.as_int() % n == 0;
  }
  if (name == "lower" || name == "upper") {
    Args none;
    none.line = line;
    return str_method(v.to_str(), name == "lower" ? "islower" : "isupper", none).truthy();
  }
  if (name == "sameas") {
    const Value o = a.get(0, "other");
    if (v.kind() != o.kind()) return false;
    if (v.is_list() || v.is_dict() || v.is_namespace() || v.is_callable()) return v.same_object(o);
    if (v.is_none() || v.is_bool()) return equal(v, o);
    return equal(v, o);
  }
  const Value o = a.get(0, "other");
  if (name == "eq" || name == "equalto" || name == "==") return equal(v, o);
  if (name == "ne" || name == "!=") return !equal(v, o);
  if (name == "lt" || name == "lessthan" || name == "<") return compare(v, o, line) < 0;
  if (name == "le" || name == "<=") return compare(v, o, line) <= 0;
  if (name == "gt" || name == "greaterthan" || name == ">") return compare(v, o, line) > 0;
  if (name == "ge" || name == ">=") return compare(v, o, line) >= 0;
  if (name == "in") {
    const Value seq = a.get(0, "seq");
    if (seq.is_string()) return v.is_string() && seq.str().find(v.str()) != std::string::npos;
    for (const Value& x : iterate(seq, line))
      if (equal(x, v)) return true;
    return false;
  }
  if (name == "filter" || name == "test") {
    static const std::set<std::string> known_filters = {
        "default", "d", "length", "count", "string", "safe", "pprint", "escape", "e", "forceescape", "upper", "lower",
        "capitalize", "title", "trim", "replace", "tojson", "first", "last", "list", "items", "join", "int", "float",
        "abs", "round", "reverse", "map", "select", "reject", "selectattr", "rejectattr", "unique", "sort", "max",
        "min", "dictsort", "sum", "batch", "indent", "wordcount", "center", "format", "attr", "striptags"};
    static const std::set<std::string> known_tests = {
        "defined", "undefined", "none", "boolean", "true", "false", "integer", "float", "number", "string", "mapping",
        "iterable", "sequence", "callable", "escaped", "odd", "even", "divisibleby", "lower", "upper", "sameas", "eq",
        "equalto", "ne", "lt", "lessthan", "le", "gt", "greaterthan", "ge", "in", "filter", "test"};
    return v.is_string() && (name == "filter" ? known_filters : known_tests).count(v.str()) > 0;
  }
  type_error("no test named '" + name + "'", line);
}

Value make_globals() {
  Dict g;
  g.set(Value("range"), Value::function([](Args& a) {
    int64_t start = 0, stop = 0, step = 1;
    if (a.pos.size() == 1) {
      stop = int_arg(a.pos[0], 0, a.line);
    } else if (a.pos.size() >= 2) {
      start = int_arg(a.pos[0], 0, a.line);
      stop = int_arg(a.pos[1], 0, a.line);
      if (a.pos.size() >= 3) step = int_arg(a.pos[2], 1, a.line);
    } else {
      type_error("range expected at least 1 argument", a.line);
    }
    if (step == 0) type_error("range() arg 3 must not be zero", a.line);
    List out;
    for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
      if (out.size() >= 10'000'000) type_error("range too big", a.line);
      out.emplace_back(i);
    }
    return Value::list(std::move(out));
  }, "range"));
  auto make_dict = [](Args& a, bool ns) {
    Dict d;
    for (const Value& p : a.pos) {
      if (!p.is_dict()) type_error("dict()/namespace() positional argument must be a mapping", a.line);
      for (const auto& [k, x] : p.dict_ref().items) d.set(k, x);
    }
    for (const auto& [k, x] : a.kw) d.set(Value(k), x);
    return ns ? Value::namespace_(std::move(d)) : Value::dict(std::move(d));
  };
  g.set(Value("dict"), Value::function([make_dict](Args& a) { return make_dict(a, false); }, "dict"));
  g.set(Value("namespace"), Value::function([make_dict](Args& a) { return make_dict(a, true); }, "namespace"));
  g.set(Value("raise_exception"), Value::function([](Args& a) -> Value {
    throw JinjaError(a.get(0, "message").to_str(), a.line);
  }, "raise_exception"));
  g.set(Value("strftime_now"), Value::function([](Args& a) {
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    localtime_r(&now, &tm);
    char buf[512];
    const size_t n = std::strftime(buf, sizeof buf, a.get(0, "format").to_str().c_str(), &tm);
    return Value(std::string(buf, n));
  }, "strftime_now"));
  return Value::dict(std::move(g));
}

}  // namespace r1::jinja
