// Value semantics for the Jinja2 interpreter: Python str()/repr(), ==, ordering, json.dumps.
#include "jinja/jinja_value.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "core/utf8.h"

namespace r1::jinja {

// ---- UTF-8 ----------------------------------------------------------------------------------

void utf8_append(std::string& out, char32_t cp) { append_utf8(uint32_t(cp), out); }

std::vector<char32_t> utf8_decode(const std::string& s) {
  std::vector<char32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int n = 0;
    char32_t cp = 0;
    if (c < 0x80) { n = 1; cp = c; }
    else if ((c & 0xE0) == 0xC0) { n = 2; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 3; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 4; cp = c & 0x07; }
    bool ok = n > 0 && i + n <= s.size();
    for (int k = 1; ok && k < n; ++k) {
      const unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) { out.push_back(0xFFFD); ++i; continue; }
    out.push_back(cp);
    i += n;
  }
  return out;
}

std::string utf8_encode(const std::vector<char32_t>& cps) {
  std::string out;
  out.reserve(cps.size());
  for (char32_t c : cps) utf8_append(out, c);
  return out;
}

// ---- construction ---------------------------------------------------------------------------

Value Value::undefined(std::string name) {
  Value v;
  v.s_ = std::move(name);
  return v;
}
Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}
Value::Value(bool b) : kind_(Kind::Bool), b_(b), i_(b ? 1 : 0) {}
Value::Value(int64_t i) : kind_(Kind::Int), i_(i) {}
Value::Value(double d) : kind_(Kind::Float), d_(d) {}
Value::Value(std::string s) : kind_(Kind::String), s_(std::move(s)) {}
Value Value::list(List items) {
  Value v;
  v.kind_ = Kind::List;
  v.list_ = std::make_shared<List>(std::move(items));
  return v;
}
Value Value::tuple(List items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::Tuple;
  return v;
}
Value Value::generator(List items) {
  Value v = list(std::move(items));
  v.kind_ = Kind::Generator;
  return v;
}
Value Value::dict(Dict d) {
  Value v;
  v.kind_ = Kind::Dict;
  v.dict_ = std::make_shared<Dict>(std::move(d));
  return v;
}
Value Value::namespace_(Dict d) {
  Value v = dict(std::move(d));
  v.kind_ = Kind::Namespace;
  NamespaceArena::track(v.dict_);
  return v;
}

namespace {
thread_local NamespaceArena* g_arena = nullptr;
}  // namespace

NamespaceArena::NamespaceArena() : prev_(g_arena) { g_arena = this; }

NamespaceArena::~NamespaceArena() {
  g_arena = prev_;
  for (auto& w : made_)
    if (auto ns = w.lock()) ns->items.clear();  // may free other namespaces: their weak expires
}

void NamespaceArena::track(const std::shared_ptr<Dict>& ns) {
  if (g_arena) g_arena->made_.push_back(ns);
}
Value Value::function(Function f, std::string name) {
  Value v;
  v.kind_ = Kind::Callable;
  v.fn_ = std::make_shared<Function>(std::move(f));
  v.s_ = std::move(name);
  return v;
}

template <typename J>
static Value value_from_json(const J& j) {
  switch (j.type()) {
    case nlohmann::json::value_t::null: return Value::none();
    case nlohmann::json::value_t::boolean: return Value(j.template get<bool>());
    case nlohmann::json::value_t::number_integer: return Value(j.template get<int64_t>());
    case nlohmann::json::value_t::number_unsigned: return Value(int64_t(j.template get<uint64_t>()));
    case nlohmann::json::value_t::number_float: return Value(j.template get<double>());
    case nlohmann::json::value_t::string: return Value(j.template get<std::string>());
    case nlohmann::json::value_t::array: {
      List l;
      for (const auto& e : j) l.push_back(value_from_json(e));
      return Value::list(std::move(l));
    }
    case nlohmann::json::value_t::object: {
      Dict d;
      for (auto it = j.begin(); it != j.end(); ++it) d.items.emplace_back(Value(it.key()), value_from_json(it.value()));
      return Value::dict(std::move(d));
    }
    default: return Value::none();
  }
}
Value Value::from_json(const nlohmann::ordered_json& j) { return value_from_json(j); }
Value Value::from_json(const nlohmann::json& j) { return value_from_json(j); }

bool Value::same_object(const Value& o) const {
  if (kind_ != o.kind_) return false;
  if (list_ || dict_ || fn_) return list_ == o.list_ && dict_ == o.dict_ && fn_ == o.fn_;
  return equal(*this, o);
}

// ---- dict -----------------------------------------------------------------------------------

const Value* Dict::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (equal(k, key)) return &v;
  return nullptr;
}
Value* Dict::find(const Value& key) {
  for (auto& [k, v] : items)
    if (equal(k, key)) return &v;
  return nullptr;
}
const Value* Dict::find_str(const std::string& key) const {
  for (const auto& [k, v] : items)
    if (k.is_string() && k.str() == key) return &v;
  return nullptr;
}
void Dict::set(Value key, Value value) {
  if (Value* v = find(key)) {
    *v = std::move(value);
    return;
  }
  items.emplace_back(std::move(key), std::move(value));
}

// ---- printing -------------------------------------------------------------------------------

std::string float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);  // e.g. "-1.2345e+02"
  std::string sign;
  if (sci[0] == '-') { sign = "-"; sci.erase(0, 1); }
  const size_t epos = sci.find('e');
  std::string digits = sci.substr(0, epos);
  digits.erase(std::remove(digits.begin(), digits.end(), '.'), digits.end());
  const int exp = std::stoi(sci.substr(epos + 1));
  if (exp >= -4 && exp < 16) {
    std::string out;
    if (exp < 0) {
      out = "0." + std::string(size_t(-exp - 1), '0') + digits;
    } else if (size_t(exp + 1) >= digits.size()) {
      out = digits + std::string(size_t(exp + 1) - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, size_t(exp + 1)) + "." + digits.substr(size_t(exp + 1));
    }
    return sign + out;
  }
  std::string out = digits.substr(0, 1);
  if (digits.size() > 1) out += "." + digits.substr(1);
  char eb[16];
  std::snprintf(eb, sizeof eb, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
  return sign + out + eb;
}

static std::string str_repr(const std::string& s) {
  const bool has_single = s.find('\'') != std::string::npos;
  const bool has_double = s.find('"') != std::string::npos;
  const char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (char32_t c : utf8_decode(s)) {
    if (c == U'\\') out += "\\\\";
    else if (c == char32_t(q)) { out += '\\'; out += q; }
    else if (c == U'\n') out += "\\n";
    else if (c == U'\r') out += "\\r";
    else if (c == U'\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F || (c >= 0x80 && c < 0xA0)) {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", unsigned(c));
      out += b;
    } else {
      utf8_append(out, c);
    }
  }
  out += q;
  return out;
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return "list";
    case Kind::Tuple: return "tuple";
    case Kind::Dict: return "dict";
    case Kind::Namespace: return "Namespace";
    case Kind::Callable: return "function";
    case Kind::Generator: return "generator";
  }
  return "?";
}

namespace {

// Values can contain themselves (`{% set ns.x = [ns] %}`, found by the jinja fuzzer): walks over
// nested values stop at this depth with a JinjaError instead of overflowing the stack. Real chat
// templates nest a few levels.
constexpr int kMaxNesting = 256;
thread_local int g_nesting = 0;

struct NestingGuard {
  NestingGuard() {
    if (++g_nesting > kMaxNesting) {
      --g_nesting;
      throw JinjaError("value nested too deeply (does it contain itself?)", 0);
    }
  }
  ~NestingGuard() { --g_nesting; }
  NestingGuard(const NestingGuard&) = delete;
  NestingGuard& operator=(const NestingGuard&) = delete;
};

}  // namespace

std::string Value::repr() const {
  if (kind_ == Kind::String) return str_repr(s_);
  return to_str();
}

std::string Value::to_str() const {
  switch (kind_) {
    case Kind::Undefined: return "";
    case Kind::None: return "None";
    case Kind::Bool: return b_ ? "True" : "False";
    case Kind::Int: return std::to_string(i_);
    case Kind::Float: return float_repr(d_);
    case Kind::String: return s_;
    case Kind::List:
    case Kind::Tuple: {
      const NestingGuard guard;
      std::string out = kind_ == Kind::List ? "[" : "(";
      for (size_t i = 0; i < list_->size(); ++i) {
        if (i) out += ", ";
        out += (*list_)[i].repr();
      }
      if (kind_ == Kind::Tuple && list_->size() == 1) out += ",";
      out += kind_ == Kind::List ? "]" : ")";
      return out;
    }
    case Kind::Dict:
    case Kind::Namespace: {
      const NestingGuard guard;
      std::string out = kind_ == Kind::Namespace ? "<Namespace {" : "{";
      bool first = true;
      for (const auto& [k, v] : dict_->items) {
        if (!first) out += ", ";
        first = false;
        out += k.repr() + ": " + v.repr();
      }
      out += kind_ == Kind::Namespace ? "}>" : "}";
      return out;
    }
    case Kind::Callable: return "<function " + s_ + ">";
    case Kind::Generator: return "<generator object>";
  }
  return "";
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return b_;
    case Kind::Int: return i_ != 0;
    case Kind::Float: return d_ != 0;
    case Kind::String: return !s_.empty();
    case Kind::List:
    case Kind::Tuple: return !list_->empty();
    case Kind::Dict: return !dict_->items.empty();
    case Kind::Namespace:
    case Kind::Generator:
    case Kind::Callable: return true;
  }
  return false;
}

// ---- comparison -----------------------------------------------------------------------------

bool equal(const Value& a, const Value& b) {
  using K = Value::Kind;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case K::Undefined:
    case K::None: return true;
    case K::String: return a.str() == b.str();
    case K::List:
    case K::Tuple: {
      const NestingGuard guard;
      if (a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equal(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case K::Dict: {
      const NestingGuard guard;
      if (a.dict_ref().items.size() != b.dict_ref().items.size()) return false;
      for (const auto& [k, v] : a.dict_ref().items) {
        const Value* o = b.dict_ref().find(k);
        if (!o || !equal(v, *o)) return false;
      }
      return true;
    }
    default: return a.same_object(b);
  }
}

int compare(const Value& a, const Value& b, int line) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) {
      const double x = a.as_double(), y = b.as_double();
      return x < y ? -1 : (x > y ? 1 : 0);
    }
    const int64_t x = a.as_int(), y = b.as_int();
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  if (a.is_string() && b.is_string()) {
    const int c = a.str().compare(b.str());  // UTF-8 byte order == code point order
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  if (a.kind() == b.kind() && a.is_list()) {
    const NestingGuard guard;
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equal(x[i], y[i])) continue;
      return compare(x[i], y[i], line);
    }
    return x.size() < y.size() ? -1 : (x.size() > y.size() ? 1 : 0);
  }
  throw JinjaError("'<' not supported between instances of '" + a.type_name() + "' and '" + b.type_name() + "'",
                   line);
}

// ---- json.dumps -----------------------------------------------------------------------------

static void json_string(std::string& out, const std::string& s, bool ensure_ascii) {
  out += '"';
  for (char32_t c : utf8_decode(s)) {
    switch (c) {
      case U'"': out += "\\\""; break;
      case U'\\': out += "\\\\"; break;
      case U'\n': out += "\\n"; break;
      case U'\r': out += "\\r"; break;
      case U'\t': out += "\\t"; break;
      case U'\b': out += "\\b"; break;
      case U'\f': out += "\\f"; break;
      default: {
        char b[16];
        if (c < 0x20 || (ensure_ascii && c > 0x7E && c < 0x10000)) {
          std::snprintf(b, sizeof b, "\\u%04x", unsigned(c));
          out += b;
        } else if (ensure_ascii && c >= 0x10000) {
          const unsigned v = unsigned(c) - 0x10000;
          std::snprintf(b, sizeof b, "\\u%04x\\u%04x", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF));
          out += b;
        } else {
          utf8_append(out, c);
        }
      }
    }
  }
  out += '"';
}

static std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return float_repr(d);
}

namespace {
struct JsonWriter {
  int indent;
  bool ensure_ascii;
  const std::string& item_sep;
  const std::string& key_sep;
  bool sort_keys;
  int line;
  std::string out;

  void newline(int level) {
    out += '\n';
    out.append(size_t(indent) * size_t(level), ' ');
  }
  std::string key_string(const Value& k) {
    if (k.is_string()) return k.str();
    if (k.is_bool()) return k.as_bool() ? "true" : "false";
    if (k.is_none()) return "null";
    if (k.is_float()) return json_float(k.as_double());
    if (k.is_int()) return std::to_string(k.as_int());
    throw JinjaError("keys must be str, int, float, bool or None, not " + k.type_name(), line);
  }
  void write(const Value& v, int level) {
    if (level > 512) throw JinjaError("tojson: nesting too deep", line);
    using K = Value::Kind;
    switch (v.kind()) {
      case K::None: out += "null"; return;
      case K::Bool: out += v.as_bool() ? "true" : "false"; return;
      case K::Int: out += std::to_string(v.as_int()); return;
      case K::Float: out += json_float(v.as_double()); return;
      case K::String: json_string(out, v.str(), ensure_ascii); return;
      case K::List:
      case K::Tuple: {
        if (v.items().empty()) { out += "[]"; return; }
        out += '[';
        for (size_t i = 0; i < v.items().size(); ++i) {
          if (i) out += item_sep;
          if (indent >= 0) newline(level + 1);
          write(v.items()[i], level + 1);
        }
        if (indent >= 0) newline(level);
        out += ']';
        return;
      }
      case K::Dict: {
        if (v.dict_ref().items.empty()) { out += "{}"; return; }
        std::vector<std::pair<std::string, const Value*>> entries;
        for (const auto& [k, val] : v.dict_ref().items) entries.emplace_back(key_string(k), &val);
        if (sort_keys)
          std::stable_sort(entries.begin(), entries.end(),
                           [](const auto& a, const auto& b) { return a.first < b.first; });
        out += '{';
        for (size_t i = 0; i < entries.size(); ++i) {
          if (i) out += item_sep;
          if (indent >= 0) newline(level + 1);
          json_string(out, entries[i].first, ensure_ascii);
          out += key_sep;
          write(*entries[i].second, level + 1);
        }
        if (indent >= 0) newline(level);
        out += '}';
        return;
      }
      default:
        throw JinjaError("Object of type " + v.type_name() + " is not JSON serializable", line);
    }
  }
};
}  // namespace

std::string to_json(const Value& v, int indent, bool ensure_ascii, const std::string& item_sep,
                    const std::string& key_sep, bool sort_keys, int line) {
  JsonWriter w{indent, ensure_ascii, item_sep, key_sep, sort_keys, line, {}};
  w.write(v, 0);
  return std::move(w.out);
}

// ---- args -----------------------------------------------------------------------------------

Value Args::get(size_t index, const std::string& name) const {
  if (index < pos.size()) return pos[index];
  for (const auto& [k, v] : kw)
    if (k == name) return v;
  return Value::undefined(name);
}
bool Args::has(size_t index, const std::string& name) const {
  if (index < pos.size()) return true;
  for (const auto& [k, v] : kw)
    if (k == name) return true;
  return false;
}

}  // namespace r1::jinja
