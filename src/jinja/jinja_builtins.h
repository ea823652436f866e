// Internal to the Jinja2 interpreter: attribute/item lookup, filters, tests, Python methods and
// global functions, shared by jinja_eval.cpp. Not a public API. All throw JinjaError.
#pragma once
#include <string>

#include "jinja/jinja_value.h"

namespace r1::jinja {

/// Throws Jinja2's UndefinedError for using `u` ("'x' is undefined").
[[noreturn]] void undefined_error(const Value& u, int line);
/// Iterates like Python's iter(): list/tuple items, dict keys, string characters; undefined is
/// empty; anything else throws "'int' object is not iterable".
List iterate(const Value& v, int line);
/// `obj.name`: Python attribute (methods of str/dict/list, namespace fields) then item; a miss
/// gives undefined; only an undefined `obj` throws.
Value get_attr(const Value& obj, const std::string& name, int line);
/// `obj[key]`: item then attribute; misses give undefined.
Value get_item(const Value& obj, const Value& key, int line);
/// Python slicing obj[start:stop:step] on strings (by code point) and lists.
Value slice(const Value& obj, const Value& start, const Value& stop, const Value& step, int line);
/// Applies filter `name` (Jinja2 builtins plus transformers' tojson).
Value call_filter(const std::string& name, const Value& operand, const Args& args);
/// Applies test `name` (`is defined`, `is string`, ...).
bool call_test(const std::string& name, const Value& operand, const Args& args);
/// Python len() (code points for strings).
int64_t py_len(const Value& v, int line);
/// The global functions of transformers' environment: range, dict, namespace, raise_exception,
/// strftime_now (a dict name -> callable).
Value make_globals();

}  // namespace r1::jinja
