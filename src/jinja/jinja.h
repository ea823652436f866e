// A Jinja2 interpreter for the subset of the language that Hugging Face chat templates use
// (r1::jinja). It renders a template the way transformers does: Jinja2's
// ImmutableSandboxedEnvironment with trim_blocks, lstrip_blocks and the loopcontrols extension,
// plus transformers' globals (raise_exception, strftime_now) and its `tojson` filter.
//
// Supported: {{ }}, {% %}, {# #}, `-`/`+` whitespace control, raw; if/elif/else, for (loop.*,
// else, inline if, tuple targets, break/continue), set (names, tuples, ns.attr, block set),
// macro/call/caller, filter blocks; Python-like values (undefined vs none, truthiness, str()
// spelling), operators incl. `~`, `in`, `is`, slicing; the common Jinja2 filters and tests; and
// str/dict/list methods (split, strip, startswith, get, items, ...). Not supported: include,
// extends, import, recursive loops, *args/**kwargs at call sites.
#pragma once
#include <memory>
#include <string>

#include "core/result.h"
#include "jinja/jinja_value.h"

namespace r1::jinja {

struct Stmt;

/// Environment options (defaults are transformers' chat-template environment).
struct Options {
  bool trim_blocks = true;
  bool lstrip_blocks = true;
  bool keep_trailing_newline = false;
  /// Bounds on hostile templates: evaluation steps (statements + loop iterations + calls),
  /// macro call depth, and output/string size in bytes.
  int64_t max_steps = 50'000'000;
  int max_call_depth = 256;
  size_t max_output_bytes = size_t(32) << 20;
};

/// A parsed template. Cheap to copy (the syntax tree is shared and immutable); render() is const
/// and may be called from several threads at once.
class Template {
 public:
  /// Parses `source`. Errors: "line N: <what>" for syntax errors (unknown tag, unclosed block, ...).
  static Result<Template> parse(const std::string& source, Options options = {});

  /// Renders with `context` (a dict value: variable name -> value). Errors: "line N: <what>" for
  /// runtime errors (undefined attribute access, type errors, raise_exception(msg) gives msg,
  /// exceeded step/size bounds). Never throws.
  Result<std::string> render(const Value& context) const;

 private:
  std::shared_ptr<const std::vector<std::unique_ptr<Stmt>>> body_;
  Options options_;
};

}  // namespace r1::jinja
