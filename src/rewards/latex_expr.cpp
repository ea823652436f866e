// Recursive-descent parser and evaluator for LaTeX math answers (see latex_expr.h).
#include "rewards/latex_expr.h"

#include <cctype>
#include <cmath>
#include <numbers>

#include <fmt/format.h>

namespace r1::rewards {
namespace {

using Ptr = std::unique_ptr<Expr>;

Ptr num(double v) {
  auto e = std::make_unique<Expr>();
  e->kind = Expr::Kind::Num;
  e->value = v;
  return e;
}
Ptr node(Expr::Kind k, Ptr a, Ptr b = nullptr) {
  auto e = std::make_unique<Expr>();
  e->kind = k;
  e->args.push_back(std::move(a));
  if (b) e->args.push_back(std::move(b));
  return e;
}
Ptr func(std::string name, Ptr a) {
  auto e = node(Expr::Kind::Func, std::move(a));
  e->name = std::move(name);
  return e;
}

bool is_func_name(std::string_view n) {
  static constexpr std::string_view kFuncs[] = {"sin", "cos", "tan", "cot", "sec", "csc",
                                                "arcsin", "arccos", "arctan", "sinh", "cosh",
                                                "tanh", "ln", "log", "exp", "sqrt"};
  for (auto f : kFuncs)
    if (f == n) return true;
  return false;
}

// Operator-like commands that end a factor (never the start of an implicit product).
bool is_operator_command(std::string_view n) {
  return n == "cdot" || n == "times" || n == "div" || n == "ast";
}

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Ptr parse_all() {
    Ptr e = parse_sum();
    skip_ws();
    if (!e || pos_ != s_.size()) return nullptr;
    return e;
  }

 private:
  void skip_ws() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  char peek() {
    skip_ws();
    return pos_ < s_.size() ? s_[pos_] : '\0';
  }
  // The command name at pos_ (after '\'), without consuming it.
  std::string_view peek_command() {
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != '\\') return {};
    size_t j = pos_ + 1;
    while (j < s_.size() && std::isalpha(static_cast<unsigned char>(s_[j]))) ++j;
    return s_.substr(pos_ + 1, j - pos_ - 1);
  }

  Ptr parse_sum() {
    if (++depth_ > 200) return nullptr;
    Ptr lhs = parse_product();
    while (lhs) {
      const char c = peek();
      if (c == '+' || c == '-') {
        ++pos_;
        Ptr rhs = parse_product();
        if (!rhs) return nullptr;
        lhs = node(c == '+' ? Expr::Kind::Add : Expr::Kind::Sub, std::move(lhs), std::move(rhs));
      } else {
        break;
      }
    }
    --depth_;
    return lhs;
  }

  bool starts_atom() {
    const char c = peek();
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.' || std::isalpha(static_cast<unsigned char>(c)))
      return true;
    if (c == '(' || c == '{' || c == '[') return true;
    if (c == '\\') {
      auto n = peek_command();
      return !n.empty() && !is_operator_command(n);
    }
    return false;
  }

  Ptr parse_product() {
    Ptr lhs = parse_unary();
    while (lhs) {
      const char c = peek();
      Expr::Kind k;
      if (c == '*') {
        ++pos_;
        k = Expr::Kind::Mul;
      } else if (c == '/') {
        ++pos_;
        k = Expr::Kind::Div;
      } else if (c == '\\' && is_operator_command(peek_command())) {
        auto n = peek_command();
        pos_ += 1 + n.size();
        k = n == "div" ? Expr::Kind::Div : Expr::Kind::Mul;
      } else if (starts_atom()) {
        k = Expr::Kind::Mul;  // implicit multiplication: 2x, 3\sqrt{2}, (a+5)(b+2)
      } else {
        break;
      }
      Ptr rhs = k == Expr::Kind::Mul && c != '*' && c != '\\' ? parse_power() : parse_unary();
      if (!rhs) return nullptr;
      lhs = node(k, std::move(lhs), std::move(rhs));
    }
    return lhs;
  }

  Ptr parse_unary() {
    const char c = peek();
    if (c == '-' || c == '+') {
      ++pos_;
      Ptr e = parse_unary();
      if (!e) return nullptr;
      return c == '-' ? node(Expr::Kind::Neg, std::move(e)) : std::move(e);
    }
    return parse_power();
  }

  // An exponent after '^': a braced group, or one digit, or one atom (x^2y = x^{2} y).
  Ptr parse_exponent() {
    const char c = peek();
    if (c == '{') return parse_atom();
    if (std::isdigit(static_cast<unsigned char>(c))) {
      ++pos_;
      return num(c - '0');
    }
    if (c == '-' || c == '+') {
      ++pos_;
      Ptr e = parse_exponent();
      if (!e) return nullptr;
      return c == '-' ? node(Expr::Kind::Neg, std::move(e)) : std::move(e);
    }
    return parse_atom();
  }

  Ptr parse_power() {
    Ptr base = parse_postfix();
    if (!base) return nullptr;
    if (peek() == '^') {
      ++pos_;
      Ptr ex = parse_exponent();
      if (!ex) return nullptr;
      return node(Expr::Kind::Pow, std::move(base), std::move(ex));
    }
    return base;
  }

  Ptr parse_postfix() {
    Ptr e = parse_atom();
    while (e && pos_ < s_.size() && s_[pos_] == '!') {
      ++pos_;
      e = node(Expr::Kind::Fact, std::move(e));
    }
    return e;
  }

  // A braced group {..}, else one character or command atom (\frac12, \sqrt2, \frac\pi2).
  Ptr parse_arg() {
    const char c = peek();
    if (c == '{') return parse_atom();
    if (std::isdigit(static_cast<unsigned char>(c))) {
      ++pos_;
      return num(c - '0');
    }
    return parse_atom();
  }

  Ptr parse_group(char open, char close) {
    ++pos_;  // open
    Ptr e = parse_sum();
    if (!e || peek() != close) return nullptr;
    ++pos_;
    (void)open;
    return e;
  }

  // Optional _sub after a name: x_1, x_{10}, \log_2.
  std::string parse_subscript() {
    if (pos_ >= s_.size() || s_[pos_] != '_') return {};
    ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '{') {
      const size_t close = s_.find('}', pos_);
      if (close == std::string_view::npos) return {};
      std::string sub(s_.substr(pos_ + 1, close - pos_ - 1));
      pos_ = close + 1;
      return fmt::format("_{}", sub);
    }
    if (pos_ < s_.size()) return fmt::format("_{}", s_[pos_++]);
    return {};
  }

  Ptr parse_function(const std::string& name) {
    // \sin^2 x: the power applies to the function's value.
    Ptr power;
    std::string base_sub;
    if (name == "log") base_sub = parse_subscript();
    if (peek() == '^') {
      ++pos_;
      power = parse_exponent();
      if (!power) return nullptr;
    }
    Ptr arg;
    const char c = peek();
    if (c == '(' || c == '{' || c == '[') {
      arg = parse_atom();
    } else {
      arg = parse_power();
    }
    if (!arg) return nullptr;
    Ptr f;
    if (!base_sub.empty()) {  // log_b x = ln x / ln b
      Ptr b = Parser(base_sub.substr(1)).parse_all();
      if (!b) return nullptr;
      f = node(Expr::Kind::Div, func("ln", std::move(arg)), func("ln", std::move(b)));
    } else {
      f = func(name, std::move(arg));
    }
    if (power) f = node(Expr::Kind::Pow, std::move(f), std::move(power));
    return f;
  }

  Ptr parse_atom() {
    const char c = peek();
    if (c == '\0') return nullptr;
    if (c == '(') return parse_group('(', ')');
    if (c == '[') return parse_group('[', ']');
    if (c == '{') return parse_group('{', '}');
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') {
      const size_t start = pos_;
      bool dot = false;
      while (pos_ < s_.size() && (std::isdigit(static_cast<unsigned char>(s_[pos_])) ||
                                  (s_[pos_] == '.' && !dot))) {
        if (s_[pos_] == '.') dot = true;
        ++pos_;
      }
      const std::string t(s_.substr(start, pos_ - start));
      if (t == ".") return nullptr;
      if (pos_ < s_.size() && s_[pos_] == '_') return nullptr;  // 52_8: a base, not a product
      return num(std::strtod(t.c_str(), nullptr));
    }
    if (std::isalpha(static_cast<unsigned char>(c))) {
      // A plain function name (sqrt(2), sin x), else a single-letter variable.
      size_t j = pos_;
      while (j < s_.size() && std::isalpha(static_cast<unsigned char>(s_[j]))) ++j;
      for (size_t len = j - pos_; len >= 2; --len) {
        const std::string w(s_.substr(pos_, len));
        if (is_func_name(w)) {
          pos_ += len;
          return parse_function(w == "sqrt" ? "sqrt" : w);
        }
        break;  // only a whole leading word counts
      }
      auto v = std::make_unique<Expr>();
      v->kind = Expr::Kind::Var;
      v->name = std::string(1, s_[pos_++]);
      v->name += parse_subscript();
      return v;
    }
    if (c == '\\') {
      const std::string n(peek_command());
      if (n.empty()) return nullptr;
      pos_ += 1 + n.size();
      if (n == "frac") {
        Ptr a = parse_arg();
        if (!a) return nullptr;
        Ptr b = parse_arg();
        if (!b) return nullptr;
        return node(Expr::Kind::Div, std::move(a), std::move(b));
      }
      if (n == "binom") {
        Ptr a = parse_arg();
        if (!a) return nullptr;
        Ptr b = parse_arg();
        if (!b) return nullptr;
        return node(Expr::Kind::Binom, std::move(a), std::move(b));
      }
      if (n == "sqrt") {
        Ptr index;
        if (peek() == '[') {
          index = parse_group('[', ']');
          if (!index) return nullptr;
        }
        Ptr a = parse_arg();
        if (!a) return nullptr;
        if (index) return node(Expr::Kind::Pow, std::move(a), node(Expr::Kind::Div, num(1), std::move(index)));
        return func("sqrt", std::move(a));
      }
      if (n == "pi") return num(std::numbers::pi);
      if (n == "infty" || n == "inf") return num(INFINITY);
      if (is_func_name(n)) return parse_function(n);
      if (n == "text" || n == "mathrm" || n == "mathbf") {  // a leftover {..} wrapper
        return parse_arg();
      }
      static constexpr std::string_view kBad[] = {"pm", "mp", "cup", "cap", "in", "le", "ge", "leq",
                                                  "geq", "lt", "gt", "ne", "neq", "begin", "end",
                                                  "emptyset", "varnothing", "circ", "sim", "approx"};
      for (auto b : kBad)
        if (n == b) return nullptr;
      auto v = std::make_unique<Expr>();  // \theta, \alpha, ...: a variable
      v->kind = Expr::Kind::Var;
      v->name = fmt::format("\\{}", n);
      v->name += parse_subscript();
      return v;
    }
    return nullptr;
  }

  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
};

double factorial(double x) {
  if (x < 0 || x != std::floor(x) || x > 170) return NAN;
  return std::tgamma(x + 1);
}

}  // namespace

std::unique_ptr<Expr> parse_expr(std::string_view s) {
  if (s.size() > 4000) return nullptr;
  return Parser(s).parse_all();
}

void collect_vars(const Expr& e, std::set<std::string>& out) {
  if (e.kind == Expr::Kind::Var) out.insert(e.name);
  for (const auto& a : e.args) collect_vars(*a, out);
}

double eval_expr(const Expr& e, const std::map<std::string, double>& vars) {
  using K = Expr::Kind;
  auto arg = [&](size_t i) { return eval_expr(*e.args[i], vars); };
  switch (e.kind) {
    case K::Num: return e.value;
    case K::Var: {
      auto it = vars.find(e.name);
      return it == vars.end() ? NAN : it->second;
    }
    case K::Neg: return -arg(0);
    case K::Add: return arg(0) + arg(1);
    case K::Sub: return arg(0) - arg(1);
    case K::Mul: return arg(0) * arg(1);
    case K::Div: return arg(0) / arg(1);
    case K::Pow: return std::pow(arg(0), arg(1));
    case K::Fact: return factorial(arg(0));
    case K::Binom: {
      const double n = arg(0), k = arg(1);
      return factorial(n) / (factorial(k) * factorial(n - k));
    }
    case K::Func: {
      const double x = arg(0);
      const std::string& f = e.name;
      if (f == "sin") return std::sin(x);
      if (f == "cos") return std::cos(x);
      if (f == "tan") return std::tan(x);
      if (f == "cot") return 1.0 / std::tan(x);
      if (f == "sec") return 1.0 / std::cos(x);
      if (f == "csc") return 1.0 / std::sin(x);
      if (f == "arcsin") return std::asin(x);
      if (f == "arccos") return std::acos(x);
      if (f == "arctan") return std::atan(x);
      if (f == "sinh") return std::sinh(x);
      if (f == "cosh") return std::cosh(x);
      if (f == "tanh") return std::tanh(x);
      if (f == "ln") return std::log(x);
      if (f == "log") return std::log10(x);  // MATH's \log without a base is base 10
      if (f == "exp") return std::exp(x);
      if (f == "sqrt") return std::sqrt(x);
      return NAN;
    }
  }
  return NAN;
}

}  // namespace r1::rewards
