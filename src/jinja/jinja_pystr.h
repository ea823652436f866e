// Internal to the Jinja2 interpreter: Python string/dict semantics used by the builtin filters
// (jinja_builtins.cpp). Not a public API. All throw JinjaError.
#pragma once
#include <cstdint>
#include <string>

#include "jinja/jinja_value.h"

namespace r1::jinja::py {

/// Throws JinjaError(msg, line) (Python's TypeError/ValueError surface as template errors).
[[noreturn]] void type_error(const std::string& msg, int line);
/// Python's str.isspace() for one code point.
bool is_py_space(char32_t c);
/// Simple (one-to-one) Unicode case mappings of one code point (utf8proc).
char32_t to_upper(char32_t c);
char32_t to_lower(char32_t c);
/// str.upper() / str.lower() / str.capitalize() with Unicode's full case mappings.
std::string str_upper(const std::string& s);
std::string str_lower(const std::string& s);
std::string str_capitalize(const std::string& s);
/// str.strip/lstrip/rstrip: `chars` none or undefined strips whitespace.
std::string str_strip(const std::string& s, const Value& chars, bool left, bool right);
/// str.split/rsplit(sep, maxsplit): sep none splits on runs of whitespace.
List str_split(const std::string& s, const Value& sep, int64_t maxsplit, bool from_right);
/// str.replace(old, new, count); count < 0 replaces all.
std::string str_replace(const std::string& s, const std::string& old, const std::string& rep, int64_t count);
/// Python %-formatting (`"%s" % x`): %s %r %d %i %f %x %%, flags, width, precision.
std::string percent_format(const std::string& fmt, const Value& args, int line);
/// An integer argument (bool counts as int); none/undefined gives dflt; anything else throws.
int64_t int_arg(const Value& v, int64_t dflt, int line);
/// Calls str method `name` on s (str.upper, .split, .startswith, .format, ...).
Value str_method(const std::string& s, const std::string& name, const Args& a);
/// Calls dict method `name` on d (.items, .keys, .values, .get).
Value dict_method(const Value& d, const std::string& name, const Args& a);
/// `obj.name` as a bound method of str/dict/list, or undefined when there is none.
Value bind(const Value& obj, const std::string& name);
/// Python's negative index: i < 0 counts from the end of n items.
int64_t norm_index(int64_t i, int64_t n);

}  // namespace r1::jinja::py
