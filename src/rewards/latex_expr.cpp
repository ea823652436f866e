// Recursive-descent parser and evaluator for LaTeX math answers (see latex_expr.h).
#include "rewards/latex_expr.h"

#include <cctype>
#include <algorithm>
#include <cmath>
#include <numbers>
#include <optional>

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

  // `{D}` or `D` (one digit) at pos_ for \dot; on success consumes it and returns the digit.
  std::optional<char> dot_digit() {
    size_t j = pos_;
    while (j < s_.size() && s_[j] == ' ') ++j;
    if (j + 2 < s_.size() && s_[j] == '{' && std::isdigit(static_cast<unsigned char>(s_[j + 1])) && s_[j + 2] == '}') {
      pos_ = j + 3;
      return s_[j + 1];
    }
    if (j < s_.size() && std::isdigit(static_cast<unsigned char>(s_[j]))) {
      pos_ = j + 1;
      return s_[j];
    }
    return std::nullopt;
  }

  // `{DIGITS}` at pos_ for \overline / \bar; on success consumes it and returns the digits.
  std::optional<std::string> bar_digits() {
    size_t j = pos_;
    while (j < s_.size() && s_[j] == ' ') ++j;
    if (j >= s_.size() || s_[j] != '{') return std::nullopt;
    const size_t close = s_.find('}', j);
    if (close == std::string_view::npos || close == j + 1) return std::nullopt;
    for (size_t k = j + 1; k < close; ++k)
      if (!std::isdigit(static_cast<unsigned char>(s_[k]))) return std::nullopt;
    pos_ = close + 1;
    return std::string(s_.substr(j + 1, close - j - 1));
  }

  // A decimal number at pos_, with an optional repeating tail after its point: 0.\overline{3}
  // and 0.1\bar{6} (the barred digits repeat), 0.\dot{3} (one dotted digit repeats) and
  // 0.\dot{1}4285\dot{7} (the two dotted digits delimit the period). The period must end the
  // number; a truncated decimal (0.333) is just that decimal.
  Ptr parse_number() {
    const size_t start = pos_;
    while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    const std::string int_digits(s_.substr(start, pos_ - start));
    std::string frac;           // digits after the point, repeating ones included
    size_t period_begin = 0;    // the period is frac[period_begin, period_end)
    size_t period_end = 0;
    int n_dots = 0;
    if (pos_ < s_.size() && s_[pos_] == '.') {
      ++pos_;
      while (pos_ < s_.size() && period_end == 0) {
        if (std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
          frac += s_[pos_++];
          continue;
        }
        if (s_[pos_] != '\\') break;
        size_t j = pos_ + 1;
        while (j < s_.size() && std::isalpha(static_cast<unsigned char>(s_[j]))) ++j;
        const std::string_view cmd = s_.substr(pos_ + 1, j - pos_ - 1);
        const size_t saved = pos_;
        pos_ = j;
        if ((cmd == "overline" || cmd == "bar") && n_dots == 0) {
          if (auto d = bar_digits()) {
            period_begin = frac.size();
            frac += *d;
            period_end = frac.size();
            continue;
          }
        } else if (cmd == "dot") {
          if (auto d = dot_digit()) {
            if (n_dots++ == 0) period_begin = frac.size();
            frac += *d;
            if (n_dots == 2) period_end = frac.size();
            continue;
          }
        }
        pos_ = saved;  // another command: the number ends here (0.5\pi)
        break;
      }
      if (n_dots == 1) {  // one dot: that digit alone repeats, and it must be the last
        if (period_begin + 1 != frac.size()) return nullptr;
        period_end = frac.size();
      }
      if (period_end > 0 && pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) return nullptr;
    }
    if (int_digits.empty() && frac.empty()) return nullptr;
    if (pos_ < s_.size() && s_[pos_] == '_') return nullptr;  // 52_8: a base, not a product
    if (period_end == 0) return num(std::strtod(fmt::format("{}.{}", int_digits, frac).c_str(), nullptr));
    // I.NR with R repeating = (INR - IN) / (10^|N| (10^|R| - 1)), exact in integers while they fit.
    const std::string head = int_digits + frac.substr(0, period_begin);
    const std::string all = int_digits + frac;
    const size_t n_len = period_begin, r_len = period_end - period_begin;
    if (all.size() <= 18) {
      const auto v = [](const std::string& d) { return d.empty() ? 0ull : std::stoull(d); };
      unsigned long long den = 1;
      for (size_t k = 0; k < n_len + r_len; ++k) den *= 10;
      unsigned long long den_n = 1;
      for (size_t k = 0; k < n_len; ++k) den_n *= 10;
      return num(static_cast<double>(v(all) - v(head)) / static_cast<double>(den - den_n));
    }
    const double fixed = std::strtod(fmt::format("0{}.{}", int_digits, frac.substr(0, period_begin)).c_str(), nullptr);
    const double period = std::strtod(frac.substr(period_begin, r_len).c_str(), nullptr);
    return num(fixed + period / (std::pow(10.0, static_cast<double>(n_len)) * (std::pow(10.0, static_cast<double>(r_len)) - 1.0)));
  }

  Ptr parse_atom() {
    const char c = peek();
    if (c == '\0') return nullptr;
    if (c == '(') return parse_group('(', ')');
    if (c == '[') return parse_group('[', ']');
    if (c == '{') return parse_group('{', '}');
    if (std::isdigit(static_cast<unsigned char>(c)) || c == '.') return parse_number();
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

double func_value(const std::string& f, double x) {
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

// |f'(x)|: how much of the argument's rounding error reaches f(x) (first order).
double func_slope(const std::string& f, double x) {
  const double c = std::cos(x), s = std::sin(x);
  if (f == "sin") return std::fabs(c);
  if (f == "cos") return std::fabs(s);
  if (f == "tan" || f == "sec") return 1.0 / (c * c);
  if (f == "cot" || f == "csc") return 1.0 / (s * s);
  if (f == "arcsin" || f == "arccos") return 1.0 / std::sqrt(std::fabs(1.0 - x * x));
  if (f == "arctan") return 1.0 / (1.0 + x * x);
  if (f == "sinh" || f == "cosh") return std::cosh(x);
  if (f == "tanh") return 1.0;
  if (f == "ln") return 1.0 / std::fabs(x);
  if (f == "log") return 1.0 / (std::fabs(x) * std::numbers::ln10);
  if (f == "exp") return std::exp(x);
  if (f == "sqrt") return 0.5 / std::sqrt(std::fabs(x));
  return NAN;
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

Evaluated eval_expr_scaled(const Expr& e, const std::map<std::string, double>& vars) {
  using K = Expr::Kind;
  auto arg = [&](size_t i) { return eval_expr_scaled(*e.args[i], vars); };
  // The scale never falls below the result's own magnitude (its last rounding).
  auto out = [](double v, double scale) { return Evaluated{v, std::max(std::fabs(v), std::fabs(scale))}; };
  switch (e.kind) {
    case K::Num: return out(e.value, 0.0);
    case K::Var: {
      auto it = vars.find(e.name);
      return out(it == vars.end() ? NAN : it->second, 0.0);
    }
    case K::Neg: {
      const Evaluated a = arg(0);
      return {-a.value, a.scale};
    }
    case K::Add:
    case K::Sub: {
      const Evaluated a = arg(0), b = arg(1);
      return out(e.kind == K::Add ? a.value + b.value : a.value - b.value, std::max(a.scale, b.scale));
    }
    case K::Mul: {
      const Evaluated a = arg(0), b = arg(1);
      return out(a.value * b.value, a.scale * b.scale);
    }
    case K::Div: {  // d(a/b) = da/b - a db/b^2
      const Evaluated a = arg(0), b = arg(1);
      const double q = a.value / b.value;
      return out(q, (a.scale + std::fabs(q) * b.scale) / std::fabs(b.value));
    }
    case K::Pow: {  // d(a^b) = b a^(b-1) da + ln(a) a^b db
      const Evaluated a = arg(0), b = arg(1);
      const double r = std::pow(a.value, b.value);
      double scale = 0.0;
      if (a.value != 0.0) {
        scale = std::fabs(b.value * r / a.value) * a.scale + std::fabs(std::log(std::fabs(a.value)) * r) * b.scale;
      }
      return out(r, scale);
    }
    case K::Fact: return out(factorial(arg(0).value), 0.0);
    case K::Binom: {
      const double n = arg(0).value, k = arg(1).value;
      return out(factorial(n) / (factorial(k) * factorial(n - k)), 0.0);
    }
    case K::Func: {
      const Evaluated x = arg(0);
      return out(func_value(e.name, x.value), func_slope(e.name, x.value) * x.scale);
    }
  }
  return {NAN, NAN};
}

double eval_expr(const Expr& e, const std::map<std::string, double>& vars) {
  return eval_expr_scaled(e, vars).value;
}

}  // namespace r1::rewards
