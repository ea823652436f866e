// The value model of the Jinja2 interpreter (r1::jinja): Python-like values as Jinja2 sees
// them when transformers renders a chat template (undefined vs None, Python truthiness, str()/repr()
// spelling, insertion-ordered dicts, reference semantics for lists, dicts and namespaces).
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace r1::jinja {

/// A template error (syntax or runtime) with the 1-based template line it happened on (0 = unknown).
/// Thrown inside the interpreter only; the public API turns it into a Result error.
class JinjaError : public std::runtime_error {
 public:
  JinjaError(const std::string& msg, int line) : std::runtime_error(msg), line_(line) {}
  int line() const { return line_; }

 private:
  int line_;
};

class Value;
struct Args;
using List = std::vector<Value>;
/// A Python dict: insertion-ordered (key, value) pairs, keys compared with Python ==.
struct Dict {
  std::vector<std::pair<Value, Value>> items;
  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  const Value* find_str(const std::string& key) const;
  void set(Value key, Value value);
};
/// A callable: a global function, a bound method, a macro or `loop.cycle`.
using Function = std::function<Value(Args&)>;

/// One Jinja2 value. Strings are UTF-8; lists/dicts/namespaces are shared (Python references).
class Value {
 public:
  // Generator: the lazy result of map/select/reject/selectattr/rejectattr/batch/unique/items/
  // reverse in Jinja2: always truthy, no len(), prints as "<generator object>", consumed by iteration.
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Tuple, Dict, Namespace, Callable, Generator };

  Value() = default;  // undefined
  static Value undefined(std::string name = {});
  static Value none();
  Value(bool b);             // NOLINT
  Value(int64_t i);          // NOLINT
  Value(int i) : Value(int64_t(i)) {}  // NOLINT
  Value(double d);           // NOLINT
  Value(std::string s);      // NOLINT
  Value(const char* s) : Value(std::string(s)) {}  // NOLINT
  static Value list(List items = {});
  static Value tuple(List items);
  static Value generator(List items);
  static Value dict(Dict d = {});
  static Value namespace_(Dict d = {});
  static Value function(Function f, std::string name);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int || kind_ == Kind::Bool; }  // Python: bool is an int
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_list() const { return kind_ == Kind::List || kind_ == Kind::Tuple; }  // a sequence
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return kind_ == Kind::Namespace; }
  bool is_callable() const { return kind_ == Kind::Callable; }
  bool is_generator() const { return kind_ == Kind::Generator; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Float ? int64_t(d_) : i_; }
  double as_double() const { return kind_ == Kind::Float ? d_ : double(i_); }
  const std::string& str() const { return s_; }
  /// The name an undefined value was looked up under (for error messages).
  const std::string& undefined_name() const { return s_; }
  List& items() const { return *list_; }
  Dict& dict_ref() const { return *dict_; }
  const Function& fn() const { return *fn_; }
  const std::string& fn_name() const { return s_; }
  bool same_object(const Value& o) const;

  /// Python truthiness (undefined is false).
  bool truthy() const;
  /// Python str(): what `{{ v }}` prints (undefined prints nothing).
  std::string to_str() const;
  /// Python repr() (strings quoted the way Python does it).
  std::string repr() const;
  /// A short type name for error messages ("str", "int", "list", ...).
  std::string type_name() const;

  /// Converts JSON input (messages, tools, kwargs) to a value; object key order is kept.
  static Value from_json(const nlohmann::ordered_json& j);
  static Value from_json(const nlohmann::json& j);

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double d_ = 0;
  std::string s_;
  std::shared_ptr<List> list_;
  std::shared_ptr<Dict> dict_;
  std::shared_ptr<Function> fn_;
};

/// Arguments of a call: positional then keyword, plus the line of the call for errors.
struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  int line = 0;
  /// Takes argument `name` at position `index` (positional or keyword); undefined if absent.
  Value get(size_t index, const std::string& name) const;
  bool has(size_t index, const std::string& name) const;
};

/// Python ==, with Jinja2's undefined == undefined.
bool equal(const Value& a, const Value& b);
/// Python <, >: -1, 0, +1; throws JinjaError for unorderable types.
int compare(const Value& a, const Value& b, int line);
/// Python repr() of a float (shortest round trip, "1e-05", "1.0", "inf").
std::string float_repr(double d);
/// Python json.dumps(v, ensure_ascii, indent, separators, sort_keys) as transformers' `tojson`.
std::string to_json(const Value& v, int indent, bool ensure_ascii, const std::string& item_sep,
                    const std::string& key_sep, bool sort_keys, int line);

/// UTF-8 helpers: code points of a string and back (invalid bytes map to U+FFFD one by one).
std::vector<char32_t> utf8_decode(const std::string& s);
std::string utf8_encode(const std::vector<char32_t>& cps);
void utf8_append(std::string& out, char32_t cp);

/// Namespaces made while a NamespaceArena lives on this thread are emptied when it ends.
/// `{% set ns.x = ns %}` makes a reference cycle that reference counting alone would leak
/// (found by the jinja fuzzer); a render's output is a string, so nothing needs them after.
class NamespaceArena {
 public:
  NamespaceArena();
  ~NamespaceArena();
  NamespaceArena(const NamespaceArena&) = delete;
  NamespaceArena& operator=(const NamespaceArena&) = delete;
  /// Records a namespace made on this thread (no-op without an arena).
  static void track(const std::shared_ptr<Dict>& ns);

 private:
  std::vector<std::weak_ptr<Dict>> made_;
  NamespaceArena* prev_;
};

}  // namespace r1::jinja
