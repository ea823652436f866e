// A small evaluator for the LaTeX/plain expressions that appear as math answers: + - * / ^,
// implicit multiplication, \cdot \times \div, ( ) [ ] { } groups, \frac (also \frac12), \sqrt and
// \sqrt[n], \binom, factorial, \pi, \infty, functions (sin cos tan cot sec csc, arcsin arccos
// arctan, ln, log and \log_b, exp, sqrt), repeating decimals (0.\overline{3}, 0.1\bar{6},
// 0.\dot{1}4285\dot{7}), and variables (single letters with optional subscripts, Greek
// commands). Used by math_verify.cpp to compare answers numerically.
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

/// A value and its rounding scale: an upper estimate of the magnitude of the intermediate
/// quantities whose double rounding errors remain in `value`, so that |error| <~ n_ops * eps *
/// scale. A result that should be exactly 0 but is computed (\sin\pi = 1.2e-16) has a scale near
/// the operands' size (pi); an exact literal 1e-30 has scale 1e-30. First-order error propagation
/// (Higham, Accuracy and Stability of Numerical Algorithms, §2 and §3.1): sums keep the largest
/// operand, products multiply scales, functions scale by |f'(x)|.
struct Evaluated {
  double value = 0.0;
  double scale = 0.0;
};

/// Value of `e` with variables bound by `vars` (a missing variable is NaN), and its rounding scale.
Evaluated eval_expr_scaled(const Expr& e, const std::map<std::string, double>& vars);

/// Value of `e` with variables bound by `vars` (a missing variable is NaN).
double eval_expr(const Expr& e, const std::map<std::string, double>& vars);

}  // namespace r1::rewards
