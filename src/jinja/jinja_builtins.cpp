// Jinja2's builtin filters and tests, Python str/dict/list methods and transformers' globals,
// with the semantics of jinja2/filters.py, jinja2/tests.py and CPython's str methods.
#include "jinja/jinja_builtins.h"

#include <utf8proc.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <set>

#include "jinja/jinja_pystr.h"

namespace r1::jinja {
using namespace py;  // str/dict semantics (jinja_pystr.cpp)

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
