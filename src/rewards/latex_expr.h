// A small evaluator for the LaTeX/plain expressions that appear as math answers: + - * / ^,
// implicit multiplication, \cdot \times \div, ( ) [ ] { } groups, \frac (also \frac12), \sqrt and
// \sqrt[n], \binom, factorial, \pi, \infty, functions (sin cos tan cot sec csc, arcsin arccos
// arctan, ln, log and \log_b, exp, sqrt), and variables (single letters with optional subscripts,
// Greek commands). Used by math_verify.cpp to compare answers numerically.
#pragma once
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace r1::rewards {

/// A parsed expression tree. Evaluation is in double precision; domain errors give NaN.
struct Expr {
  enum class Kind { Num, Var, Neg, Add, Sub, Mul, Div, Pow, Func, Fact, Binom };
  Kind kind = Kind::Num;
  double value = 0.0;   // Num
  std::string name;     // Var: variable name; Func: function name
  std::vector<std::unique_ptr<Expr>> args;
};

/// Parses `s` as one expression. Returns nullptr when the whole string is not an expression
/// (unbalanced groups, stray operators, commas, '=', unknown structure like "52_8").
std::unique_ptr<Expr> parse_expr(std::string_view s);

/// Names of the variables in `e` (added to `out`).
void collect_vars(const Expr& e, std::set<std::string>& out);

/// Value of `e` with variables bound by `vars` (a missing variable is NaN).
double eval_expr(const Expr& e, const std::map<std::string, double>& vars);

}  // namespace r1::rewards
