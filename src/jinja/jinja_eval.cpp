// The Jinja2 evaluator: walks the statement tree with Jinja2's scoping (a fresh scope per loop
// iteration and per macro call; `if` and `set` at the same level share one), Python operator
// semantics and the step/depth/size bounds of Options.
#include <cmath>
#include <unordered_map>

#include "jinja/jinja.h"
#include "jinja/jinja_ast.h"
#include "jinja/jinja_builtins.h"

namespace r1::jinja {
namespace {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { Normal, Break, Continue };

class Interp {
 public:
  Interp(const Options& opt, ScopePtr root) : opt_(opt), root_(std::move(root)), globals_(make_globals()) {}

  Flow exec(const Body& body, const ScopePtr& sc, std::string& out) {
    for (const auto& s : body) {
      const Flow f = exec_stmt(*s, sc, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

 private:
  const Options& opt_;
  ScopePtr root_;
  Value globals_;
  int64_t steps_ = 0;
  int call_depth_ = 0;

  void step(int line) {
    if (++steps_ > opt_.max_steps) throw JinjaError("template exceeded the evaluation step limit", line);
  }
  void check_size(size_t n, int line) const {
    if (n > opt_.max_output_bytes) throw JinjaError("template output exceeds the size limit", line);
  }

  Value lookup(const std::string& name, const ScopePtr& sc) const {
    for (const Scope* s = sc.get(); s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    if (const Value* g = globals_.dict_ref().find_str(name)) return *g;
    return Value::undefined(name);
  }

  void assign(const Stmt& s, const Value& v, const ScopePtr& sc) {
    if (!s.attr.empty()) {
      Value target = lookup(s.targets[0], sc);
      if (!target.is_namespace())
        throw JinjaError("cannot assign attribute on non-namespace object '" + s.targets[0] + "'", s.line);
      target.dict_ref().set(Value(s.attr), v);
      return;
    }
    bind_targets(s.targets, s.targets_tuple, v, *sc, s.line);
  }

  void bind_targets(const std::vector<std::string>& targets, bool tuple, const Value& v, Scope& sc, int line) {
    if (!tuple) {
      sc.vars[targets[0]] = v;
      return;
    }
    const List items = iterate(v, line);
    if (items.size() != targets.size())
      throw JinjaError(items.size() > targets.size() ? "too many values to unpack (expected " + std::to_string(targets.size()) + ")"
                                                     : "not enough values to unpack (expected " + std::to_string(targets.size()) +
                                                           ", got " + std::to_string(items.size()) + ")",
                       line);
    for (size_t i = 0; i < targets.size(); ++i) sc.vars[targets[i]] = items[i];
  }

  Flow exec_stmt(const Stmt& s, const ScopePtr& sc, std::string& out) {
    step(s.line);
    switch (s.kind) {
      case Stmt::K::Text:
        out += s.text;
        check_size(out.size(), s.line);
        return Flow::Normal;
      case Stmt::K::Output:
        out += eval(*s.expr, sc).to_str();
        check_size(out.size(), s.line);
        return Flow::Normal;
      case Stmt::K::If:
        for (size_t i = 0; i < s.conds.size(); ++i)
          if (eval(*s.conds[i], sc).truthy()) return exec(s.bodies[i], sc, out);
        return exec(s.else_body, sc, out);
      case Stmt::K::For: return exec_for(s, sc, out);
      case Stmt::K::Set: assign(s, eval(*s.expr, sc), sc); return Flow::Normal;
      case Stmt::K::SetBlock: {
        std::string body;
        exec(s.body, sc, body);
        Value v(body);
        if (s.expr) v = apply_filter_chain(*s.expr, v, sc);
        assign(s, v, sc);
        return Flow::Normal;
      }
      case Stmt::K::Macro:
        sc->vars[s.name] = make_macro(s, sc, s.name);
        return Flow::Normal;
      case Stmt::K::CallBlock: {
        const Expr& call = *s.expr;
        Value callee = eval(*call.a[0], sc);
        Args args = eval_args(call, 1, sc);
        args.kw.emplace_back("caller", make_macro(s, sc, "caller"));
        out += call_value(callee, args, call.line).to_str();
        check_size(out.size(), s.line);
        return Flow::Normal;
      }
      case Stmt::K::FilterBlock: {
        std::string body;
        exec(s.body, sc, body);
        out += apply_filter_chain(*s.expr, Value(body), sc).to_str();
        check_size(out.size(), s.line);
        return Flow::Normal;
      }
      case Stmt::K::Break: return Flow::Break;
      case Stmt::K::Continue: return Flow::Continue;
    }
    return Flow::Normal;
  }

  Flow exec_for(const Stmt& s, const ScopePtr& sc, std::string& out) {
    List items = iterate(eval(*s.expr, sc), s.line);
    if (s.cond) {  // `for x in xs if cond`: filtered before loop.length is known
      List kept;
      for (const Value& it : items) {
        auto tmp = std::make_shared<Scope>();
        tmp->parent = sc;
        bind_targets(s.targets, s.targets_tuple, it, *tmp, s.line);
        if (eval(*s.cond, tmp).truthy()) kept.push_back(it);
      }
      items = std::move(kept);
    }
    if (items.empty()) return exec(s.else_body, sc, out);
    const int64_t n = int64_t(items.size());
    for (int64_t i = 0; i < n; ++i) {
      step(s.line);
      auto child = std::make_shared<Scope>();
      child->parent = sc;
      bind_targets(s.targets, s.targets_tuple, items[size_t(i)], *child, s.line);
      Dict loop;
      loop.set(Value("index"), Value(i + 1));
      loop.set(Value("index0"), Value(i));
      loop.set(Value("revindex"), Value(n - i));
      loop.set(Value("revindex0"), Value(n - i - 1));
      loop.set(Value("first"), Value(i == 0));
      loop.set(Value("last"), Value(i == n - 1));
      loop.set(Value("length"), Value(n));
      loop.set(Value("depth"), Value(int64_t(1)));
      loop.set(Value("depth0"), Value(int64_t(0)));
      if (i > 0) loop.set(Value("previtem"), items[size_t(i - 1)]);
      if (i + 1 < n) loop.set(Value("nextitem"), items[size_t(i + 1)]);
      loop.set(Value("cycle"), Value::function([i](Args& a) -> Value {
        if (a.pos.empty()) throw JinjaError("no items for cycling given", a.line);
        return a.pos[size_t(i) % a.pos.size()];
      }, "cycle"));
      child->vars["loop"] = Value::namespace_(std::move(loop));
      const Flow f = exec(s.body, child, out);
      if (f == Flow::Break) break;
    }
    return Flow::Normal;
  }

  // A macro (or a call block's `caller`) as a callable value. The defining scope is held weakly
  // (it may hold the macro itself); once gone, names resolve in the template's root scope.
  Value make_macro(const Stmt& s, const ScopePtr& sc, const std::string& name) {
    std::weak_ptr<Scope> def = sc;
    const Stmt* stmt = &s;
    return Value::function([this, stmt, def, name](Args& a) -> Value {
      if (++call_depth_ > opt_.max_call_depth) {
        --call_depth_;
        throw JinjaError("maximum macro recursion depth exceeded", a.line);
      }
      struct Depth { int& d; ~Depth() { --d; } } depth{call_depth_};
      step(a.line);
      auto scope = std::make_shared<Scope>();
      scope->parent = def.lock();
      if (!scope->parent) scope->parent = root_;
      const auto& params = stmt->params;
      List varargs;
      for (size_t i = 0; i < a.pos.size(); ++i) {
        if (i < params.size()) scope->vars[params[i]] = a.pos[i];
        else varargs.push_back(a.pos[i]);
      }
      Dict kwargs;
      for (const auto& [k, v] : a.kw) {
        const auto it = std::find(params.begin(), params.end(), k);
        if (it != params.end()) {
          if (size_t(it - params.begin()) < a.pos.size())
            throw JinjaError("macro '" + name + "' got multiple values for argument '" + k + "'", a.line);
          scope->vars[k] = v;
        } else if (k == "caller") {
          scope->vars["caller"] = v;
        } else {
          kwargs.set(Value(k), v);
        }
      }
      for (size_t i = 0; i < params.size(); ++i) {
        if (scope->vars.count(params[i])) continue;
        scope->vars[params[i]] = stmt->defaults[i] ? eval(*stmt->defaults[i], scope) : Value::undefined(params[i]);
      }
      scope->vars["varargs"] = Value::tuple(std::move(varargs));
      scope->vars["kwargs"] = Value::dict(std::move(kwargs));
      std::string out;
      exec(stmt->body, scope, out);
      return Value(out);
    }, name);
  }

  Args eval_args(const Expr& e, size_t first, const ScopePtr& sc) {
    Args args;
    args.line = e.line;
    for (size_t i = first; i < e.a.size(); ++i) args.pos.push_back(eval(*e.a[i], sc));
    for (const auto& [k, v] : e.kw) args.kw.emplace_back(k, eval(*v, sc));
    return args;
  }

  Value call_value(const Value& callee, Args& args, int line) {
    if (callee.is_undefined()) undefined_error(callee, line);
    if (!callee.is_callable()) throw JinjaError("'" + callee.type_name() + "' object is not callable", line);
    step(line);
    return callee.fn()(args);
  }

  Value apply_filter_chain(const Expr& f, const Value& base, const ScopePtr& sc) {
    const Value operand = f.a[0] ? apply_filter_chain(*f.a[0], base, sc) : base;
    return call_filter(f.name, operand, eval_args(f, 1, sc));
  }

  static bool contains(const Value& container, const Value& item, int line) {
    if (container.is_string()) {
      if (!item.is_string())
        throw JinjaError("'in <string>' requires string as left operand, not " + item.type_name(), line);
      return container.str().find(item.str()) != std::string::npos;
    }
    if (container.is_dict()) return container.dict_ref().find(item) != nullptr;
    if (container.is_list()) {
      for (const Value& x : container.items())
        if (equal(x, item)) return true;
      return false;
    }
    if (container.is_undefined()) return false;
    if (container.is_generator()) {
      for (const Value& x : iterate(container, line))
        if (equal(x, item)) return true;
      return false;
    }
    throw JinjaError("argument of type '" + container.type_name() + "' is not iterable", line);
  }

  [[noreturn]] static void bad_operands(const std::string& op, const Value& l, const Value& r, int line) {
    if (op == "+" && l.is_string())
      throw JinjaError("can only concatenate str (not \"" + r.type_name() + "\") to str", line);
    throw JinjaError("unsupported operand type(s) for " + op + ": '" + l.type_name() + "' and '" + r.type_name() + "'",
                     line);
  }

  Value repeat(const Value& seq, int64_t n, int line) {
    if (n <= 0) return seq.is_string() ? Value("") : Value::list();
    if (seq.is_string()) {
      check_size(seq.str().size() * size_t(n), line);
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += seq.str();
      return Value(out);
    }
    check_size(seq.items().size() * size_t(n) * 16, line);
    List out;
    for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
    return seq.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }

  Value binop(const std::string& op, const Value& l, const Value& r, int line) {
    if (op == "==") return Value(equal(l, r));
    if (op == "!=") return Value(!equal(l, r));
    if (op == "~") {
      std::string s = l.to_str() + r.to_str();
      check_size(s.size(), line);
      return Value(std::move(s));
    }
    if (op == "in" || op == "notin") return Value(contains(r, l, line) == (op == "in"));
    if (l.is_undefined()) undefined_error(l, line);
    if (r.is_undefined()) undefined_error(r, line);
    if (op == "<") return Value(compare(l, r, line) < 0);
    if (op == ">") return Value(compare(l, r, line) > 0);
    if (op == "<=") return Value(compare(l, r, line) <= 0);
    if (op == ">=") return Value(compare(l, r, line) >= 0);
    const bool nums = l.is_number() && r.is_number();
    const bool ints = nums && !l.is_float() && !r.is_float();
    if (op == "+") {
      if (ints) {
        int64_t x;
        if (__builtin_add_overflow(l.as_int(), r.as_int(), &x)) throw JinjaError("integer overflow", line);
        return Value(x);
      }
      if (nums) return Value(l.as_double() + r.as_double());
      if (l.is_string() && r.is_string()) {
        check_size(l.str().size() + r.str().size(), line);
        return Value(l.str() + r.str());
      }
      if (l.is_list() && r.is_list() && l.kind() == r.kind()) {
        List out = l.items();
        out.insert(out.end(), r.items().begin(), r.items().end());
        return l.kind() == Value::Kind::Tuple ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      bad_operands(op, l, r, line);
    }
    if (op == "-") {
      if (ints) {
        int64_t x;
        if (__builtin_sub_overflow(l.as_int(), r.as_int(), &x)) throw JinjaError("integer overflow", line);
        return Value(x);
      }
      if (nums) return Value(l.as_double() - r.as_double());
      bad_operands(op, l, r, line);
    }
    if (op == "*") {
      if (ints) {
        int64_t x;
        if (__builtin_mul_overflow(l.as_int(), r.as_int(), &x)) throw JinjaError("integer overflow", line);
        return Value(x);
      }
      if (nums) return Value(l.as_double() * r.as_double());
      if ((l.is_string() || l.is_list()) && r.is_int() && !r.is_float()) return repeat(l, r.as_int(), line);
      if ((r.is_string() || r.is_list()) && l.is_int() && !l.is_float()) return repeat(r, l.as_int(), line);
      bad_operands(op, l, r, line);
    }
    if (op == "/" || op == "//" || op == "%") {
      if (op == "%" && l.is_string()) {
        Args a;
        a.line = line;
        a.pos = r.kind() == Value::Kind::Tuple ? r.items() : List{r};
        return call_filter("format", l, a);
      }
      if (!nums) bad_operands(op, l, r, line);
      if (r.as_double() == 0) throw JinjaError(ints && op != "/" ? "integer division or modulo by zero" : "division by zero", line);
      if (op == "/") return Value(l.as_double() / r.as_double());
      if (ints) {
        const int64_t a = l.as_int(), b = r.as_int();
        if (a == INT64_MIN && b == -1) throw JinjaError("integer overflow", line);
        int64_t q = a / b, m = a % b;
        if (m != 0 && ((m < 0) != (b < 0))) { --q; m += b; }
        return Value(op == "//" ? q : m);
      }
      const double a = l.as_double(), b = r.as_double();
      if (op == "//") return Value(std::floor(a / b));
      double m = std::fmod(a, b);
      if (m != 0 && ((m < 0) != (b < 0))) m += b;
      return Value(m);
    }
    if (op == "**") {
      if (!nums) bad_operands(op, l, r, line);
      if (ints && r.as_int() >= 0) {
        int64_t acc = 1, base = l.as_int();
        for (int64_t e = r.as_int(); e > 0; --e)
          if (__builtin_mul_overflow(acc, base, &acc)) throw JinjaError("integer overflow", line);
        return Value(acc);
      }
      return Value(std::pow(l.as_double(), r.as_double()));
    }
    throw JinjaError("unknown operator " + op, line);
  }

  Value eval(const Expr& e, const ScopePtr& sc) {
    switch (e.kind) {
      case Expr::K::Const: return e.value;
      case Expr::K::Name: return lookup(e.name, sc);
      case Expr::K::List:
      case Expr::K::Tuple: {
        List items;
        for (const auto& x : e.a) items.push_back(eval(*x, sc));
        return e.kind == Expr::K::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case Expr::K::Dict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.a.size(); i += 2) d.set(eval(*e.a[i], sc), eval(*e.a[i + 1], sc));
        return Value::dict(std::move(d));
      }
      case Expr::K::Getattr: return get_attr(eval(*e.a[0], sc), e.name, e.line);
      case Expr::K::Getitem: return get_item(eval(*e.a[0], sc), eval(*e.a[1], sc), e.line);
      case Expr::K::Slice: {
        auto opt = [&](size_t i) { return e.a[i] ? eval(*e.a[i], sc) : Value::none(); };
        return slice(eval(*e.a[0], sc), opt(1), opt(2), opt(3), e.line);
      }
      case Expr::K::Call: {
        const Value callee = eval(*e.a[0], sc);
        Args args = eval_args(e, 1, sc);
        return call_value(callee, args, e.line);
      }
      case Expr::K::Filter: {
        const Value operand = eval(*e.a[0], sc);
        return call_filter(e.name, operand, eval_args(e, 1, sc));
      }
      case Expr::K::Test: {
        const Value operand = eval(*e.a[0], sc);
        return Value(call_test(e.name, operand, eval_args(e, 1, sc)) != e.negated);
      }
      case Expr::K::Unary: {
        const Value v = eval(*e.a[0], sc);
        if (e.name == "not") return Value(!v.truthy());
        if (v.is_undefined()) undefined_error(v, e.line);
        if (!v.is_number()) throw JinjaError("bad operand type for unary " + e.name + ": '" + v.type_name() + "'", e.line);
        if (e.name == "+") return v.is_float() ? v : Value(v.as_int());
        if (v.is_float()) return Value(-v.as_double());
        if (v.as_int() == INT64_MIN) throw JinjaError("integer overflow", e.line);
        return Value(-v.as_int());
      }
      case Expr::K::Binary: {
        if (e.name == "and" || e.name == "or") {
          Value l = eval(*e.a[0], sc);
          if (l.truthy() == (e.name == "or")) return l;
          return eval(*e.a[1], sc);
        }
        const Value l = eval(*e.a[0], sc);
        const Value r = eval(*e.a[1], sc);
        return binop(e.name, l, r, e.line);
      }
      case Expr::K::Cond:
        if (eval(*e.a[1], sc).truthy()) return eval(*e.a[0], sc);
        return e.a[2] ? eval(*e.a[2], sc) : Value::undefined();
    }
    return Value::undefined();
  }
};

std::string with_line(const JinjaError& e) {
  return e.line() > 0 ? "line " + std::to_string(e.line()) + ": " + e.what() : std::string(e.what());
}

}  // namespace

Result<Template> Template::parse(const std::string& source, Options options) {
  Template t;
  t.options_ = options;
  try {
    t.body_ = std::make_shared<const Body>(
        parse_template(source, options.trim_blocks, options.lstrip_blocks, options.keep_trailing_newline));
  } catch (const JinjaError& e) {
    return make_error("template syntax error: {}", with_line(e));
  } catch (const std::exception& e) {
    return make_error("template syntax error: {}", e.what());
  }
  return t;
}

Result<std::string> Template::render(const Value& context) const {
  if (!body_) return make_error("template: render() on an empty template");
  const NamespaceArena arena;  // declared first: emptied after every value of the render
  auto root = std::make_shared<Scope>();
  if (context.is_dict())
    for (const auto& [k, v] : context.dict_ref().items) root->vars[k.to_str()] = v;
  std::string out;
  try {
    Interp interp(options_, root);
    interp.exec(*body_, root, out);
  } catch (const JinjaError& e) {
    root->vars.clear();  // break macro <-> scope cycles
    return make_error("template error: {}", with_line(e));
  } catch (const std::length_error& e) {
    root->vars.clear();
    return make_error("template error: {}", e.what());
  }
  root->vars.clear();
  return out;
}

}  // namespace r1::jinja
