// Problem generators, answer checking and the base corpus writer of the embedded task (task.h).
#include "task/task.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <set>

#include <fmt/format.h>

namespace r1::task {

uint64_t TaskRng::next() {
  uint64_t z = (s_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

int64_t TaskRng::uniform_int(int64_t lo, int64_t hi) {
  const auto span = static_cast<unsigned __int128>(static_cast<uint64_t>(hi - lo) + 1);
  return lo + static_cast<int64_t>((static_cast<unsigned __int128>(next()) * span) >> 64);
}

double TaskRng::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

namespace {

uint64_t fnv1a(std::string_view s) {
  uint64_t h = 1469598103934665603ull;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h;
}

std::vector<int> digits_lsb(int64_t x) {
  std::vector<int> d;
  do {
    d.push_back(static_cast<int>(x % 10));
    x /= 10;
  } while (x > 0);
  return d;
}

int64_t from_digits_lsb(const std::vector<int>& d) {
  int64_t v = 0;
  for (size_t i = d.size(); i-- > 0;) v = v * 10 + d[i];
  return v;
}

// Writes a think trace step by step; a step's written result may slip by one (and then be fixed
// by "wait" with p_wait). `rng == nullptr` writes a clean trace.
struct Tracer {
  TaskRng* rng = nullptr;
  double p_slip = 0.0, p_wait = 0.0;
  std::string out;
  bool waited = false;

  void sep() {
    if (!out.empty() && out.back() != ' ') out += ' ';
  }
  // Writes "lhs=value" and returns the value the computation goes on with.
  int64_t step(const std::string& lhs, int64_t truth, int64_t lo, int64_t hi) {
    sep();
    int64_t v = truth;
    if (rng && rng->bernoulli(p_slip)) {
      v = truth + (rng->bernoulli(0.5) ? 1 : -1);
      if (v < lo || v > hi) v = truth + (v < truth ? 1 : -1);
    }
    out += fmt::format("{}={}", lhs, v);
    if (v != truth && rng && rng->bernoulli(p_wait)) {
      out += fmt::format(" wait {}={}", lhs, truth);
      waited = true;
      v = truth;
    }
    return v;
  }

  // a + b (a, b >= 0), column by column with the carry: "7+9=16 4+8+1=13 3+5+1=9".
  int64_t add(int64_t a, int64_t b) {
    auto da = digits_lsb(a), db = digits_lsb(b);
    const size_t n = std::max(da.size(), db.size());
    std::vector<int> r;
    int64_t carry = 0;
    for (size_t i = 0; i < n; ++i) {
      const int x = i < da.size() ? da[i] : 0, y = i < db.size() ? db[i] : 0;
      const std::string lhs = carry ? fmt::format("{}+{}+{}", x, y, carry) : fmt::format("{}+{}", x, y);
      const int64_t s = step(lhs, x + y + carry, 0, 19);
      r.push_back(static_cast<int>(s % 10));
      carry = s / 10;
    }
    if (carry) r.push_back(static_cast<int>(carry));
    return from_digits_lsb(r);
  }

  // a - b (a >= b >= 0), column by column with the borrow folded in: "17-9=8 13-8=5 2-1=1".
  int64_t sub(int64_t a, int64_t b) {
    auto da = digits_lsb(a), db = digits_lsb(b);
    std::vector<int> r;
    int borrow = 0;
    for (size_t i = 0; i < da.size(); ++i) {
      int top = da[i] - borrow;
      const int y = i < db.size() ? db[i] : 0;
      borrow = 0;
      if (top < y) {
        top += 10;
        borrow = 1;
      }
      r.push_back(static_cast<int>(step(fmt::format("{}-{}", top, y), top - y, 0, 9)));
    }
    return from_digits_lsb(r);
  }

  // a - b for any a, b >= 0: "swap" and a negated result when b > a.
  int64_t sub_signed(int64_t a, int64_t b) {
    if (a >= b) return sub(a, b);
    sep();
    out += "swap";
    return -sub(b, a);
  }

  // x + b for a signed x and b >= 0.
  int64_t add_signed(int64_t x, int64_t b) { return x >= 0 ? add(x, b) : sub_signed(b, -x); }

  // a * d for one digit d: "7*6=42 4*6+4=28 3*6+2=20".
  int64_t mul_digit(int64_t a, int d) {
    std::vector<int> r;
    int64_t carry = 0;
    for (int x : digits_lsb(a)) {
      const std::string lhs = carry ? fmt::format("{}*{}+{}", x, d, carry) : fmt::format("{}*{}", x, d);
      const int64_t s = step(lhs, x * d + carry, 0, 89);
      r.push_back(static_cast<int>(s % 10));
      carry = s / 10;
    }
    if (carry) r.push_back(static_cast<int>(carry));
    return from_digits_lsb(r);
  }

  // a * b: one row per digit of b, then the shifted rows added column by column.
  int64_t mul(int64_t a, int64_t b) {
    auto db = digits_lsb(b);
    int64_t acc = 0, scale = 1;
    for (size_t j = 0; j < db.size(); ++j, scale *= 10) {
      const int64_t row = mul_digit(a, db[j]);
      acc = j == 0 ? row : add(acc, row * scale);
    }
    return acc;
  }
};

std::string signed_term(int64_t v) { return v < 0 ? fmt::format("-{}", -v) : fmt::format("+{}", v); }

// ---- Problem families ----

Problem make_arith(int64_t a, char op, int64_t b, int level) {
  Problem p;
  p.family = "arith";
  p.level = level;
  p.op = op;
  p.numbers = {a, b};
  p.target = op == '+' ? a + b : op == '-' ? a - b : a * b;
  p.prompt = fmt::format("Q:{}{}{}=?A:", a, op, b);
  p.answer = fmt::format("{}", p.target);
  Tracer t;  // hard: any carry/borrow (a clean trace shows it as a two-digit column or +10)
  if (op == '+') {
    auto da = digits_lsb(a), db = digits_lsb(b);
    int carry = 0;
    for (size_t i = 0; i < std::max(da.size(), db.size()); ++i) {
      const int s = (i < da.size() ? da[i] : 0) + (i < db.size() ? db[i] : 0) + carry;
      carry = s / 10;
      p.hard |= carry > 0;
    }
  } else if (op == '-') {
    auto da = digits_lsb(std::max(a, b)), db = digits_lsb(std::min(a, b));
    for (size_t i = 0; i < db.size(); ++i) p.hard |= da[i] < db[i];
    p.hard |= a < b;
  } else {
    p.hard = b >= 10 || a * (b % 10) >= 100 || (a % 10) * (b % 10) >= 10;
  }
  return p;
}

Problem draw_arith(int level, TaskRng& rng) {
  const int kind = static_cast<int>(rng.uniform_int(0, 2));
  const char op = "+-*"[kind];
  int64_t lo = 10, hi = 999, mlo = 10, mhi = 99, dlo = 2, dhi = 9;
  switch (level) {
    case 1: hi = 99; break;
    case 2: lo = 100; mlo = 100; mhi = 999; break;
    case 3: lo = 1000; hi = 9999; mlo = 100; mhi = 999; dlo = 10; dhi = 99; break;
    case 4: lo = 10000; hi = 99999; mlo = 1000; mhi = 9999; dlo = 10; dhi = 99; break;
    default: break;
  }
  if (op == '*') {
    const int64_t a = rng.uniform_int(mlo, mhi), b = rng.uniform_int(dlo, dhi);
    return make_arith(a, op, b, level);
  }
  const int64_t a = rng.uniform_int(lo, hi), b = rng.uniform_int(lo, hi);
  return make_arith(a, op, b, level);
}

Problem draw_linear(int level, TaskRng& rng) {
  const int64_t amax = level <= 1 ? 5 : 9, xmax = level <= 1 ? 9 : level == 2 ? 20 : 50;
  int64_t a = rng.uniform_int(2, amax);
  if (level >= 3 && rng.bernoulli(0.3)) a = -a;
  const int64_t x = rng.uniform_int(level == 0 ? 1 : -xmax, xmax);
  int64_t b = rng.uniform_int(-20 * std::max(1, level), 20 * std::max(1, level));
  if (b == 0) b = 1;
  Problem p;
  p.family = "linear";
  p.level = level;
  p.numbers = {a, b, a * x + b};
  p.target = x;
  p.prompt = fmt::format("Q:{}x{}={},x=?A:", a, signed_term(b), a * x + b);
  p.answer = fmt::format("{}", x);
  p.hard = level >= 2 || std::abs(a * x) >= 20;
  return p;
}

// Countdown: a pool of numbers and a target reachable by combining them left to right.
struct Chain {
  std::vector<int64_t> order;  // the numbers in the order used
  std::string ops;             // ops[i] combines the running value with order[i+1]
};

int64_t apply_op(int64_t v, char op, int64_t n) {
  switch (op) {
    case '+': return v + n;
    case '-': return v - n;
    case '*': return v * n;
    default: return n != 0 && v % n == 0 ? v / n : INT64_MIN;
  }
}

std::string chain_expr(const Chain& c) {
  std::string e = fmt::format("{}", c.order[0]);
  bool additive = false;  // the running expression has a top-level + or -
  for (size_t i = 0; i < c.ops.size(); ++i) {
    const char op = c.ops[i];
    if ((op == '*' || op == '/') && additive) e = fmt::format("({})", e);
    e += fmt::format("{}{}", op, c.order[i + 1]);
    additive = op == '+' || op == '-' ? true : false;
  }
  return e;
}

Problem draw_countdown(int level, TaskRng& rng) {
  const int n = level <= 1 ? 3 : 4;
  for (;;) {
    std::vector<int64_t> pool;
    for (int i = 0; i < n; ++i) pool.push_back(rng.uniform_int(1, level >= 3 ? 13 : 9));
    if (level >= 3) pool.back() = 25 * rng.uniform_int(1, 4);
    Chain c;
    c.order = pool;
    for (size_t i = c.order.size(); i > 1; --i) std::swap(c.order[i - 1], c.order[static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(i) - 1))]);
    int64_t v = c.order[0];
    bool ok = true;
    for (size_t i = 1; i < c.order.size() && ok; ++i) {
      const char op = "+-*/"[rng.uniform_int(0, 3)];
      const int64_t nv = apply_op(v, op, c.order[i]);
      if (nv == INT64_MIN || nv <= 0) ok = false;
      c.ops += op;
      v = nv;
    }
    if (!ok || v < 10 || v > 999) continue;
    std::sort(pool.begin(), pool.end());
    Problem p;
    p.family = "countdown";
    p.level = level;
    p.numbers = pool;
    p.target = v;
    std::string nums;
    for (size_t i = 0; i < pool.size(); ++i) nums += fmt::format("{}{}", i ? "," : "", pool[i]);
    p.prompt = fmt::format("Q:{} from {}=?A:", v, nums);
    p.answer = chain_expr(c);
    p.hard = true;
    return p;
  }
}

// Exact evaluation of a countdown answer over rationals-free integers (every division exact).
struct ExprEval {
  std::string_view s;
  size_t pos = 0;
  std::vector<int64_t> used;
  bool ok = true;

  void ws() {
    while (pos < s.size() && s[pos] == ' ') ++pos;
  }
  int64_t atom() {
    ws();
    if (pos < s.size() && s[pos] == '(') {
      ++pos;
      const int64_t v = sum();
      ws();
      if (pos >= s.size() || s[pos] != ')') ok = false;
      ++pos;
      return v;
    }
    size_t st = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) ++pos;
    if (pos == st || pos - st > 6) {
      ok = false;
      return 0;
    }
    const int64_t v = std::stoll(std::string(s.substr(st, pos - st)));
    used.push_back(v);
    return v;
  }
  int64_t product() {
    int64_t v = atom();
    for (;;) {
      ws();
      if (!ok || pos >= s.size() || (s[pos] != '*' && s[pos] != '/')) return v;
      const char op = s[pos++];
      const int64_t r = atom();
      if (op == '/' && (r == 0 || v % r != 0)) ok = false;
      if (!ok) return 0;
      v = apply_op(v, op, r);
      if (std::abs(v) > 1000000000) ok = false;
    }
  }
  int64_t sum() {
    int64_t v = product();
    for (;;) {
      ws();
      if (!ok || pos >= s.size() || (s[pos] != '+' && s[pos] != '-')) return v;
      const char op = s[pos++];
      v = apply_op(v, op, product());
    }
  }
};

std::string near_miss(int64_t answer, TaskRng& rng) {
  std::string s = fmt::format("{}", std::abs(answer));
  for (;;) {
    const size_t i = static_cast<size_t>(rng.uniform_int(0, static_cast<int64_t>(s.size()) - 1));
    std::string t = s;
    int d = t[i] - '0' + (rng.bernoulli(0.5) ? 1 : -1);
    if (d < 0 || d > 9 || (i == 0 && d == 0 && t.size() > 1)) continue;
    t[i] = static_cast<char>('0' + d);
    if (t != s) return fmt::format("{}{}", answer < 0 ? "-" : "", t);
  }
}

// ---- Think traces per family ----

int64_t arith_work(const Problem& p, Tracer& t) {
  const int64_t a = p.numbers[0], b = p.numbers[1];
  if (p.op == '+') return t.add(a, b);
  if (p.op == '-') return t.sub_signed(a, b);
  return t.mul(a, b);
}

// The check passage: the inverse operation (x - b for a sum, x + b for a difference) or, for a
// product, the multiplication redone; returns true when it confirms `r`.
bool arith_check(const Problem& p, int64_t r, Tracer& t) {
  const int64_t a = p.numbers[0], b = p.numbers[1];
  t.sep();
  t.out += "check";
  if (p.op == '+') return t.sub_signed(r, b) == a;
  if (p.op == '-') return t.add_signed(r, b) == a;
  return t.mul(a, b) == r;
}

int64_t linear_work(const Problem& p, Tracer& t) {
  const int64_t a = p.numbers[0], b = p.numbers[1], c = p.numbers[2];
  const int64_t r = t.step(b > 0 ? fmt::format("{}-{}", c, b) : fmt::format("{}+{}", c, -b), c - b, INT64_MIN / 4, INT64_MAX / 4);
  return t.step(fmt::format("{}/{}", r, a), r / a, INT64_MIN / 4, INT64_MAX / 4);
}

bool linear_check(const Problem& p, int64_t x, Tracer& t) {
  const int64_t a = p.numbers[0], b = p.numbers[1], c = p.numbers[2];
  t.sep();
  t.out += "check";
  const int64_t ax = t.step(fmt::format("{}*{}", a, x), a * x, INT64_MIN / 4, INT64_MAX / 4);
  const int64_t v = t.step(fmt::format("{}{}", ax, signed_term(b)), ax + b, INT64_MIN / 4, INT64_MAX / 4);
  return v == c;
}

// Countdown: the chain of the canonical answer, step by step; a slip uses a wrong operator.
std::string countdown_work(const Problem& p, Tracer& t, int64_t& value) {
  // Recover the chain from the canonical answer: numbers in order, ops in order.
  Chain c;
  for (size_t i = 0; i < p.answer.size(); ++i) {
    const char ch = p.answer[i];
    if (std::isdigit(static_cast<unsigned char>(ch))) {
      size_t j = i;
      while (j < p.answer.size() && std::isdigit(static_cast<unsigned char>(p.answer[j]))) ++j;
      c.order.push_back(std::stoll(p.answer.substr(i, j - i)));
      i = j - 1;
    } else if (ch == '+' || ch == '-' || ch == '*' || ch == '/') {
      c.ops += ch;
    }
  }
  int64_t v = c.order[0];
  Chain written = c;
  for (size_t i = 0; i < c.ops.size(); ++i) {
    char op = c.ops[i];
    if (t.rng && t.rng->bernoulli(t.p_slip * 2)) {  // a wrong operator (only + - * keep it exact)
      const char alt = "+-*"[t.rng->uniform_int(0, 2)];
      if (alt != op && apply_op(v, alt, c.order[i + 1]) > 0) op = alt;
    }
    const int64_t nv = apply_op(v, op, c.order[i + 1]);
    t.sep();
    t.out += fmt::format("{}{}{}={}", v, op, c.order[i + 1], nv);
    written.ops[i] = op;
    v = nv;
  }
  value = v;
  return chain_expr(written);
}

}  // namespace

Problem arith_problem(int64_t a, char op, int64_t b) { return make_arith(a, op, b, 0); }

const std::vector<std::string>& task_names() {
  static const std::vector<std::string> kNames = {"arith", "linear", "countdown"};
  return kNames;
}

bool is_test_prompt(std::string_view prompt, double test_fraction) {
  return static_cast<double>(fnv1a(prompt) % 1000) < 1000.0 * test_fraction;
}

Result<Problem> draw_problem(const std::string& family, int level, TaskRng& rng) {
  if (level < 0 || level > 4) return make_error("task level {} is out of range (0 = default mix, 1..4)", level);
  if (family == "arith") return draw_arith(level, rng);
  if (family == "linear") return draw_linear(level, rng);
  if (family == "countdown") return draw_countdown(level, rng);
  return make_error("unknown task '{}' (known: arith, linear, countdown)", family);
}

Result<std::vector<Problem>> generate(const std::string& family, int64_t n, uint64_t seed, Split split, int level) {
  TaskRng rng(seed ^ (split == Split::Test ? 0x7E57ull : 0x7A19ull));
  std::vector<Problem> out;
  std::set<std::string> seen;
  const int64_t max_draws = std::max<int64_t>(200 * n, 1000);
  for (int64_t draws = 0; static_cast<int64_t>(out.size()) < n; ++draws) {
    R1_ASSIGN_OR_RETURN(p, draw_problem(family, level, rng));
    if (is_test_prompt(p.prompt) != (split == Split::Test)) continue;
    if (split == Split::Test && draws < max_draws && !seen.insert(p.prompt).second) continue;
    out.push_back(std::move(p));
  }
  return out;
}

bool check_answer(const Problem& p, std::string_view answer) {
  std::string a;
  for (char c : answer)
    if (c != ' ') a += c;
  if (p.family == "countdown") {
    if (a.empty() || a.size() > 64) return false;
    ExprEval e;
    e.s = a;
    const int64_t v = e.sum();
    if (!e.ok || e.pos != a.size() || v != p.target) return false;
    std::multiset<int64_t> pool(p.numbers.begin(), p.numbers.end());
    for (int64_t u : e.used) {
      auto it = pool.find(u);
      if (it == pool.end()) return false;
      pool.erase(it);
    }
    return true;
  }
  if (!a.empty() && a[0] == '+') a.erase(0, 1);
  if (a.empty() || a.size() > 19) return false;
  size_t i = a[0] == '-' ? 1 : 0;
  if (i == a.size()) return false;
  for (size_t k = i; k < a.size(); ++k)
    if (!std::isdigit(static_cast<unsigned char>(a[k]))) return false;
  return std::stoll(a) == p.target;
}

std::string correct_trace(const Problem& p) {
  Tracer t;
  std::string answer = p.answer;
  if (p.family == "arith") {
    answer = fmt::format("{}", arith_work(p, t));
  } else if (p.family == "linear") {
    answer = fmt::format("{}", linear_work(p, t));
  } else {
    int64_t v = 0;
    answer = countdown_work(p, t, v);
  }
  return fmt::format("<think>{}</think>{}", t.out, answer);
}

Solution write_solution(const Problem& p, const CorpusOptions& o, TaskRng& rng) {
  Solution s;
  if (!rng.bernoulli(o.think_share)) {  // a bare answer
    const bool right = rng.bernoulli(p.hard ? o.bare_right_hard : o.bare_right_easy);
    if (p.family == "countdown") {
      if (right) {
        s.completion = p.answer;
      } else {  // a random combination of the pool
        std::string e = fmt::format("{}", p.numbers[0]);
        for (size_t i = 1; i < p.numbers.size(); ++i) e += fmt::format("{}{}", "+-*"[rng.uniform_int(0, 2)], p.numbers[i]);
        s.completion = e;
      }
    } else {
      s.completion = right ? p.answer : near_miss(p.target, rng);
    }
    s.correct = check_answer(p, s.completion);
    return s;
  }
  Tracer t;
  t.rng = &rng;
  t.p_slip = o.p_slip;
  t.p_wait = o.p_wait;
  const bool check = rng.bernoulli(o.check_share);
  std::string answer;
  if (p.family == "arith" || p.family == "linear") {
    const bool arith = p.family == "arith";
    int64_t r = arith ? arith_work(p, t) : linear_work(p, t);
    if (check) {
      const bool confirmed = arith ? arith_check(p, r, t) : linear_check(p, r, t);
      if (confirmed) {
        t.out += " ok";
      } else {  // the check caught a mismatch: redo the work (slips still possible)
        t.out += " wait";
        t.waited = true;
        r = arith ? arith_work(p, t) : linear_work(p, t);
      }
    }
    answer = fmt::format("{}", r);
  } else {
    int64_t v = 0;
    answer = countdown_work(p, t, v);
    if (v != p.target && rng.bernoulli(o.p_wait)) {
      t.out += fmt::format(" wait {}!={}", v, p.target);
      t.waited = true;
      Tracer clean;
      answer = countdown_work(p, clean, v);
      t.sep();
      t.out += clean.out;
    }
    if (check) {
      t.out += v == p.target ? fmt::format(" check {}={} ok", v, p.target)
                             : fmt::format(" check {}!={} wait", v, p.target);
      if (v != p.target) {
        t.waited = true;
        Tracer clean;
        answer = countdown_work(p, clean, v);
        t.sep();
        t.out += clean.out;
      }
    }
  }
  s.completion = fmt::format("<think>{}</think>{}", t.out, answer);
  s.think = true;
  s.wait = t.waited;
  s.check = check;
  s.correct = check_answer(p, answer);
  return s;
}

Result<Corpus> generate_corpus(const std::string& family, int64_t n, uint64_t seed, const CorpusOptions& opts) {
  TaskRng rng(seed ^ 0xC0B1005ull);
  Corpus c;
  c.documents.reserve(static_cast<size_t>(n));
  while (static_cast<int64_t>(c.documents.size()) < n) {
    R1_ASSIGN_OR_RETURN(p, draw_problem(family, opts.level, rng));
    if (is_test_prompt(p.prompt)) continue;  // held-out problems never enter the corpus
    Solution s = write_solution(p, opts, rng);
    c.documents.push_back(p.prompt + s.completion);
    c.solutions.push_back(std::move(s));
  }
  return c;
}

}  // namespace r1::task
