// Internal to the Jinja2 interpreter: tokens and the syntax tree shared by jinja_parse.cpp and
// jinja_eval.cpp. Not a public API.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "jinja/jinja_value.h"

namespace r1::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

/// An expression node. Children layout per kind is noted on each enumerator.
struct Expr {
  enum class K {
    Const,    // value
    Name,     // name
    List,     // a = items
    Tuple,    // a = items
    Dict,     // a = k0, v0, k1, v1, ...
    Getattr,  // a[0] = object, name = attribute
    Getitem,  // a[0] = object, a[1] = key
    Slice,    // a[0] = object, a[1..3] = start, stop, step (null when absent)
    Call,     // a[0] = callee, a[1..] = positional; kw = keyword arguments
    Filter,   // name = filter, a[0] = operand (null inside {% filter %}), a[1..] = positional; kw
    Test,     // name = test, a[0] = operand, a[1..] = positional; kw; negated = `is not`
    Unary,    // name = "-", "+", "not"; a[0]
    Binary,   // name = operator (+ - * / // % ** ~ == != < > <= >= in notin and or); a[0], a[1]
    Cond,     // a[0] = then, a[1] = condition, a[2] = else (null: undefined)
  };
  K kind;
  int line = 0;
  std::string name;
  Value value;
  bool negated = false;
  int depth = 1;  // height of this subtree: bounded so evaluation cannot overflow the stack
  std::vector<ExprPtr> a;
  std::vector<std::pair<std::string, ExprPtr>> kw;
};

/// A statement node (template data, output and block tags).
struct Stmt {
  enum class K {
    Text,      // text
    Output,    // expr
    If,        // conds[i] -> bodies[i]; else_body
    For,       // targets, expr = iterable, cond = inline `if` filter, body, else_body
    Set,       // targets (or target + attr for `ns.attr = ...`), expr
    SetBlock,  // targets, body, expr = filter chain (Filter with null operand) or null
    Macro,     // name, params (+ defaults), body
    CallBlock, // expr = call, params = caller params, body
    FilterBlock,  // expr = filter chain, body
    Break,
    Continue,
  };
  K kind;
  int line = 0;
  std::string text;
  std::string name;
  std::string attr;  // Set: `name.attr = ...`
  ExprPtr expr;
  ExprPtr cond;
  std::vector<std::string> targets;
  bool targets_tuple = false;
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  Body body;
  Body else_body;
  std::vector<std::string> params;
  std::vector<ExprPtr> defaults;  // parallel to params (null: required)
};

/// Parses template source into a statement list; throws JinjaError (with line) on syntax errors.
/// Whitespace control follows Jinja2's lexer: `-` strips, `+` keeps, trim_blocks drops one newline
/// after a block/comment tag, lstrip_blocks drops spaces/tabs before one at line start.
Body parse_template(const std::string& source, bool trim_blocks, bool lstrip_blocks, bool keep_trailing_newline);

}  // namespace r1::jinja
