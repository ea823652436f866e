// Jinja2 lexer and parser: template source -> statement tree. Mirrors jinja2/lexer.py (whitespace
// control, trim_blocks, lstrip_blocks, newline normalisation) and jinja2/parser.py (precedence).
#include <cstring>
#include <set>

#include "jinja/jinja_ast.h"

namespace r1::jinja {
namespace {

// Python str.isspace() for the characters templates meet (ASCII plus the C1/Unicode spaces that
// Python's rstrip() also removes are rare in templates; ASCII suffices for byte-level stripping).
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
                               (c >= '\x1c' && c <= '\x1f'); }

struct Tok {
  enum class T { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };
  T t;
  std::string s;
  Value v;
  int line;
};

class Lexer {
 public:
  Lexer(const std::string& src, bool trim_blocks, bool lstrip_blocks, bool keep_trailing_newline)
      : trim_(trim_blocks), lstrip_(lstrip_blocks) {
    // Jinja2 normalises \r\n and \r to \n and drops one trailing newline unless told otherwise.
    src_.reserve(src.size());
    for (size_t i = 0; i < src.size(); ++i) {
      if (src[i] == '\r') {
        src_ += '\n';
        if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
      } else {
        src_ += src[i];
      }
    }
    if (!keep_trailing_newline && !src_.empty() && src_.back() == '\n') src_.pop_back();
  }

  std::vector<Tok> run() {
    size_t pos = 0;
    bool line_starting = true;
    while (pos < src_.size()) {
      size_t start = find_tag(pos);
      std::string text = src_.substr(pos, start == std::string::npos ? std::string::npos : start - pos);
      if (start == std::string::npos) {
        emit_data(text, pos);
        break;
      }
      const char kind = src_[start + 1];  // '{', '%', '#'
      const char sign = start + 2 < src_.size() ? src_[start + 2] : 0;
      if (sign == '-') {
        while (!text.empty() && is_space(text.back())) text.pop_back();
      } else if (sign != '+' && lstrip_ && kind != '{') {
        const size_t nl = text.rfind('\n');
        const size_t l_pos = nl == std::string::npos ? 0 : nl + 1;
        if (l_pos > 0 || line_starting) {
          bool all_ws = l_pos < text.size();
          for (size_t i = l_pos; i < text.size(); ++i)
            if (!is_space(text[i])) all_ws = false;
          if (all_ws) text.resize(l_pos);
        }
      }
      emit_data(text, pos);
      size_t p = start + 2 + ((sign == '-' || sign == '+') ? 1 : 0);
      if (kind == '#') {
        size_t end = src_.find("#}", p);
        if (end == std::string::npos) throw JinjaError("missing end of comment tag", line_at(start));
        const bool strip = end > p && src_[end - 1] == '-';
        const bool keep = end > p && src_[end - 1] == '+';
        pos = end + 2;
        line_starting = after_tag(pos, strip, !keep && trim_);
        continue;
      }
      const bool is_block = kind == '%';
      toks_.push_back({is_block ? Tok::T::BlockBegin : Tok::T::VarBegin, {}, {}, line_at(start)});
      const size_t first_tok = toks_.size();
      bool strip = false, keep = false;
      p = lex_expr(p, is_block, strip, keep);
      toks_.push_back({is_block ? Tok::T::BlockEnd : Tok::T::VarEnd, {}, {}, line_at(p)});
      pos = p;
      line_starting = after_tag(pos, strip, is_block && !keep && trim_);
      if (is_block && toks_.size() == first_tok + 2 && toks_[first_tok].t == Tok::T::Name &&
          toks_[first_tok].s == "raw") {
        toks_.resize(first_tok - 1);  // drop the raw tag itself
        pos = lex_raw(pos, start, line_starting);
      }
    }
    toks_.push_back({Tok::T::Eof, {}, {}, line_at(src_.size())});
    return std::move(toks_);
  }

 private:
  std::string src_;
  bool trim_, lstrip_;
  std::vector<Tok> toks_;
  size_t line_pos_ = 0;
  int line_ = 1;

  int line_at(size_t pos) {
    if (pos < line_pos_) { line_pos_ = 0; line_ = 1; }
    for (; line_pos_ < pos && line_pos_ < src_.size(); ++line_pos_)
      if (src_[line_pos_] == '\n') ++line_;
    return line_;
  }

  size_t find_tag(size_t pos) const {
    for (size_t i = src_.find('{', pos); i != std::string::npos; i = src_.find('{', i + 1)) {
      if (i + 1 < src_.size() && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string::npos;
  }

  void emit_data(const std::string& text, size_t pos) {
    if (!text.empty()) toks_.push_back({Tok::T::Data, text, {}, line_at(pos)});
  }

  // Skips what follows a tag end: all whitespace after `-`, one newline under trim_blocks.
  // Returns Jinja2's `line_starting` (the consumed end ended with a newline).
  bool after_tag(size_t& pos, bool strip, bool trim) {
    bool nl = false;
    if (strip) {
      while (pos < src_.size() && is_space(src_[pos])) nl = src_[pos++] == '\n';
    } else if (trim && pos < src_.size() && src_[pos] == '\n') {
      ++pos;
      nl = true;
    }
    return nl;
  }

  size_t lex_raw(size_t pos, size_t tag_start, bool& line_starting) {
    for (size_t i = src_.find("{%", pos); i != std::string::npos; i = src_.find("{%", i + 2)) {
      size_t p = i + 2;
      const char sign = p < src_.size() ? src_[p] : 0;
      if (sign == '-' || sign == '+') ++p;
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (src_.compare(p, 6, "endraw") != 0) continue;
      p += 6;
      while (p < src_.size() && is_space(src_[p])) ++p;
      bool strip = false, keep = false;
      if (p < src_.size() && (src_[p] == '-' || src_[p] == '+')) { strip = src_[p] == '-'; keep = !strip; ++p; }
      if (src_.compare(p, 2, "%}") != 0) continue;
      std::string text = src_.substr(pos, i - pos);
      if (sign == '-') while (!text.empty() && is_space(text.back())) text.pop_back();
      emit_data(text, pos);
      p += 2;
      line_starting = after_tag(p, strip, !keep && trim_);
      return p;
    }
    throw JinjaError("missing endraw", line_at(tag_start));
  }

  // Lexes expression tokens up to the closing `}}` / `%}`; returns the position after it.
  size_t lex_expr(size_t p, bool is_block, bool& strip, bool& keep) {
    int depth = 0;
    const char close = is_block ? '%' : '}';
    while (true) {
      while (p < src_.size() && is_space(src_[p])) ++p;
      if (p >= src_.size()) throw JinjaError(is_block ? "unexpected end of template, expected '%}'"
                                                      : "unexpected end of template, expected '}}'", line_at(p));
      const int line = line_at(p);
      if (depth == 0) {
        for (char sign : {'-', '+', '\0'}) {
          size_t q = p;
          if (sign) {
            if (src_[q] != sign) continue;
            ++q;
          }
          if (q + 1 < src_.size() && src_[q] == close && src_[q + 1] == '}') {
            strip = sign == '-';
            keep = sign == '+';
            return q + 2;
          }
        }
      }
      const char c = src_[p];
      if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
        size_t q = p;
        while (q < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
        toks_.push_back({Tok::T::Name, src_.substr(p, q - p), {}, line});
        p = q;
      } else if (std::isdigit(static_cast<unsigned char>(c))) {
        p = lex_number(p, line);
      } else if (c == '\'' || c == '"') {
        p = lex_string(p, line);
      } else {
        static const char* kOps[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                     "=", ".", ",", ":", "|", "(", ")", "[", "]", "{", "}"};
        const char* op = nullptr;
        for (const char* o : kOps)
          if (src_.compare(p, std::strlen(o), o) == 0) { op = o; break; }
        if (!op) throw JinjaError(std::string("unexpected char '") + c + "'", line);
        if (*op == '(' || *op == '[' || *op == '{') ++depth;
        if ((*op == ')' || *op == ']' || *op == '}') && depth > 0) --depth;
        toks_.push_back({Tok::T::Op, op, {}, line});
        p += std::strlen(op);
      }
    }
  }

  size_t lex_number(size_t p, int line) {
    size_t q = p;
    auto digits = [&] {
      while (q < src_.size() && (std::isdigit(static_cast<unsigned char>(src_[q])) || src_[q] == '_')) ++q;
    };
    digits();
    bool is_float = false;
    if (q + 1 < src_.size() && src_[q] == '.' && std::isdigit(static_cast<unsigned char>(src_[q + 1]))) {
      ++q;
      digits();
      is_float = true;
    }
    if (q < src_.size() && (src_[q] == 'e' || src_[q] == 'E')) {
      size_t r = q + 1;
      if (r < src_.size() && (src_[r] == '+' || src_[r] == '-')) ++r;
      if (r < src_.size() && std::isdigit(static_cast<unsigned char>(src_[r]))) {
        q = r;
        digits();
        is_float = true;
      }
    }
    std::string text;
    for (size_t i = p; i < q; ++i)
      if (src_[i] != '_') text += src_[i];
    if (is_float) {
      toks_.push_back({Tok::T::Float, text, Value(std::stod(text)), line});
    } else {
      try {
        toks_.push_back({Tok::T::Int, text, Value(int64_t(std::stoll(text))), line});
      } catch (const std::exception&) {
        throw JinjaError("integer literal too large: " + text, line);
      }
    }
    return q;
  }

  size_t lex_string(size_t p, int line) {
    const char q = src_[p++];
    std::string out;
    while (true) {
      if (p >= src_.size()) throw JinjaError("unterminated string", line);
      const char c = src_[p];
      if (c == q) { ++p; break; }
      if (c != '\\') { out += c; ++p; continue; }
      if (p + 1 >= src_.size()) throw JinjaError("unterminated string", line);
      const char e = src_[p + 1];
      p += 2;
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'v': out += '\v'; break;
        case 'a': out += '\a'; break;
        case '0': out += '\0'; break;
        case '\\': out += '\\'; break;
        case '\'': out += '\''; break;
        case '"': out += '"'; break;
        case '\n': break;  // line continuation
        case 'x': case 'u': case 'U': {
          const int n = e == 'x' ? 2 : (e == 'u' ? 4 : 8);
          if (p + n > src_.size()) throw JinjaError("truncated \\" + std::string(1, e) + " escape", line);
          char32_t cp = 0;
          for (int i = 0; i < n; ++i) {
            const char h = src_[p + i];
            if (!std::isxdigit(static_cast<unsigned char>(h)))
              throw JinjaError("bad \\" + std::string(1, e) + " escape", line);
            cp = cp * 16 + char32_t(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
          }
          p += n;
          utf8_append(out, cp);
          break;
        }
        default: out += '\\'; out += e;  // Python keeps unknown escapes verbatim
      }
    }
    toks_.push_back({Tok::T::String, out, Value(out), line});
    return p;
  }
};

class Parser {
 public:
  explicit Parser(std::vector<Tok> toks) : t_(std::move(toks)) {}

  Body parse_all() {
    Body body = parse_body({});
    if (cur().t != Tok::T::Eof) throw JinjaError("unexpected '" + end_tag_ + "'", cur().line);
    return body;
  }

 private:
  std::vector<Tok> t_;
  size_t i_ = 0;
  std::string end_tag_;  // the block keyword that stopped parse_body
  int depth_ = 0;
  int expr_depth_ = 0;
  int not_depth_ = 0;

  const Tok& cur() const { return t_[i_]; }
  const Tok& peek(size_t k = 1) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  bool is_op(const char* op) const { return cur().t == Tok::T::Op && cur().s == op; }
  bool is_name(const char* n) const { return cur().t == Tok::T::Name && cur().s == n; }
  [[noreturn]] void fail(const std::string& what) const {
    std::string got = cur().t == Tok::T::Eof ? "end of template" : (cur().t == Tok::T::BlockEnd ? "'%}'" :
                      cur().t == Tok::T::VarEnd ? "'}}'" : "'" + cur().s + "'");
    throw JinjaError(what + ", got " + got, cur().line);
  }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(std::string("expected '") + op + "'");
    ++i_;
  }
  std::string expect_name() {
    if (cur().t != Tok::T::Name) fail("expected a name");
    return t_[i_++].s;
  }
  void expect_block_end() {
    if (cur().t != Tok::T::BlockEnd) fail("expected end of statement block");
    ++i_;
  }
  ExprPtr check_depth(ExprPtr e) {
    if (e->depth > 1000) throw JinjaError("expression too long", e->line);
    return e;
  }
  // Recomputes the height of a node built by a postfix or filter step.
  ExprPtr fix(ExprPtr e) {
    int d = 0;
    for (const auto& c : e->a)
      if (c) d = std::max(d, c->depth);
    for (const auto& [k, c] : e->kw) d = std::max(d, c->depth);
    e->depth = d + 1;
    return check_depth(std::move(e));
  }
  ExprPtr node(Expr::K k, int line) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line;
    return e;
  }

  // Parses statements until a block tag whose keyword is in `ends` (left unconsumed after
  // `{%`; the keyword is stored in end_tag_).
  Body parse_body(const std::set<std::string>& ends) {
    if (++depth_ > 200) throw JinjaError("template nesting too deep", cur().line);
    Body body;
    while (true) {
      const Tok& tk = cur();
      if (tk.t == Tok::T::Eof) {
        if (!ends.empty()) throw JinjaError("unexpected end of template, expected '" + *ends.begin() + "'", tk.line);
        break;
      }
      if (tk.t == Tok::T::Data) {
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::K::Text;
        s->line = tk.line;
        s->text = tk.s;
        body.push_back(std::move(s));
        ++i_;
      } else if (tk.t == Tok::T::VarBegin) {
        ++i_;
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::K::Output;
        s->line = tk.line;
        s->expr = parse_tuple();
        if (cur().t != Tok::T::VarEnd) fail("expected '}}'");
        ++i_;
        body.push_back(std::move(s));
      } else if (tk.t == Tok::T::BlockBegin) {
        const Tok& kw = peek();
        if (kw.t != Tok::T::Name) { ++i_; fail("expected a statement name"); }
        if (ends.count(kw.s)) {
          i_ += 2;
          end_tag_ = kw.s;
          --depth_;
          return body;
        }
        ++i_;
        body.push_back(parse_statement());
      } else {
        fail("unexpected token");
      }
    }
    --depth_;
    return body;
  }

  StmtPtr parse_statement() {
    const int line = cur().line;
    const std::string kw = expect_name();
    auto s = std::make_unique<Stmt>();
    s->line = line;
    if (kw == "if") {
      s->kind = Stmt::K::If;
      s->conds.push_back(parse_tuple());
      expect_block_end();
      while (true) {
        s->bodies.push_back(parse_body({"elif", "else", "endif"}));
        if (end_tag_ == "elif") {
          s->conds.push_back(parse_tuple());
          expect_block_end();
        } else if (end_tag_ == "else") {
          expect_block_end();
          s->else_body = parse_body({"endif"});
          expect_block_end();
          break;
        } else {
          expect_block_end();
          break;
        }
      }
    } else if (kw == "for") {
      s->kind = Stmt::K::For;
      parse_targets(*s);
      if (!is_name("in")) fail("expected 'in'");
      ++i_;
      s->expr = parse_tuple(/*no_cond=*/true);
      if (is_name("if")) {
        ++i_;
        s->cond = parse_expression();
      }
      if (is_name("recursive")) throw JinjaError("recursive for loops are not supported", line);
      expect_block_end();
      s->body = parse_body({"endfor", "else"});
      if (end_tag_ == "else") {
        expect_block_end();
        s->else_body = parse_body({"endfor"});
      }
      expect_block_end();
    } else if (kw == "set") {
      parse_targets(*s);
      if (!s->targets_tuple && is_op(".")) {
        ++i_;
        s->attr = expect_name();
      }
      if (is_op("=")) {
        ++i_;
        s->kind = Stmt::K::Set;
        s->expr = parse_tuple();
        expect_block_end();
      } else {
        s->kind = Stmt::K::SetBlock;
        if (!s->attr.empty()) fail("expected '='");
        if (is_op("|")) s->expr = parse_filter_chain();
        expect_block_end();
        s->body = parse_body({"endset"});
        expect_block_end();
      }
    } else if (kw == "macro") {
      s->kind = Stmt::K::Macro;
      s->name = expect_name();
      parse_params(*s);
      expect_block_end();
      s->body = parse_body({"endmacro"});
      if (cur().t == Tok::T::Name) ++i_;  // {% endmacro name %}
      expect_block_end();
    } else if (kw == "call") {
      s->kind = Stmt::K::CallBlock;
      if (is_op("(")) parse_params(*s);
      s->expr = parse_expression();
      if (s->expr->kind != Expr::K::Call) throw JinjaError("expected a call after 'call'", line);
      expect_block_end();
      s->body = parse_body({"endcall"});
      expect_block_end();
    } else if (kw == "filter") {
      s->kind = Stmt::K::FilterBlock;
      s->expr = parse_filter_chain(/*leading_bar=*/false);
      expect_block_end();
      s->body = parse_body({"endfilter"});
      expect_block_end();
    } else if (kw == "generation") {  // transformers' AssistantTracker: renders its body as is
      s->kind = Stmt::K::If;
      s->conds.push_back(node(Expr::K::Const, line));
      s->conds.back()->value = Value(true);
      expect_block_end();
      s->bodies.push_back(parse_body({"endgeneration"}));
      expect_block_end();
    } else if (kw == "break" || kw == "continue") {
      s->kind = kw == "break" ? Stmt::K::Break : Stmt::K::Continue;
      expect_block_end();
    } else {
      throw JinjaError("unknown tag '" + kw + "'", line);
    }
    return s;
  }

  void parse_targets(Stmt& s) {
    bool paren = false;
    if (is_op("(")) { paren = true; ++i_; }
    s.targets.push_back(expect_name());
    while (is_op(",")) {
      ++i_;
      s.targets_tuple = true;
      if (cur().t != Tok::T::Name) break;
      s.targets.push_back(expect_name());
    }
    if (paren) { expect_op(")"); s.targets_tuple = true; }
  }

  void parse_params(Stmt& s) {
    expect_op("(");
    while (!is_op(")")) {
      if (!s.params.empty()) expect_op(",");
      if (is_op(")")) break;
      s.params.push_back(expect_name());
      if (is_op("=")) {
        ++i_;
        s.defaults.push_back(parse_expression());
      } else {
        s.defaults.push_back(nullptr);
      }
    }
    ++i_;
  }

  ExprPtr parse_filter_chain(bool leading_bar = true) {
    ExprPtr e;  // null operand: filled in at render time
    bool first = true;
    while ((first && !leading_bar) || is_op("|")) {
      if (!(first && !leading_bar)) ++i_;
      first = false;
      e = parse_filter_call(std::move(e));
    }
    return e;
  }

  // tuple := expression (',' expression)* : a bare comma list is a tuple (as in `{% set a, b = ... %}`).
  ExprPtr parse_tuple(bool no_cond = false) {
    const int line = cur().line;
    ExprPtr first = no_cond ? parse_or() : parse_expression();
    if (!is_op(",")) return first;
    auto t = node(Expr::K::Tuple, line);
    t->a.push_back(std::move(first));
    while (is_op(",")) {
      ++i_;
      if (cur().t == Tok::T::BlockEnd || cur().t == Tok::T::VarEnd || is_op(")") || is_name("if")) break;
      t->a.push_back(no_cond ? parse_or() : parse_expression());
    }
    return t;
  }

  ExprPtr parse_expression() {
    struct Guard {  // bounds recursion on hostile input such as 100000 nested '('
      int& d;
      explicit Guard(int& depth, int line) : d(depth) {
        if (++d > 400) throw JinjaError("expression nesting too deep", line);
      }
      ~Guard() { --d; }
    } guard(expr_depth_, cur().line);
    ExprPtr e = parse_or();
    while (is_name("if")) {
      const int line = cur().line;
      ++i_;
      auto c = node(Expr::K::Cond, line);
      c->a.push_back(std::move(e));
      c->a.push_back(parse_or());
      if (is_name("else")) {
        ++i_;
        c->a.push_back(parse_expression());
      } else {
        c->a.push_back(nullptr);
      }
      e = std::move(c);
    }
    return e;
  }

  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r, int line) {
    auto b = node(Expr::K::Binary, line);
    b->name = op;
    b->depth = 1 + std::max(l->depth, r->depth);
    b->a.push_back(std::move(l));
    b->a.push_back(std::move(r));
    return check_depth(std::move(b));
  }

  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      const int line = cur().line;
      ++i_;
      e = binary("or", std::move(e), parse_and(), line);
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      const int line = cur().line;
      ++i_;
      e = binary("and", std::move(e), parse_not(), line);
    }
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      if (++not_depth_ > 400) throw JinjaError("expression nesting too deep", cur().line);
      const int line = cur().line;
      ++i_;
      auto u = node(Expr::K::Unary, line);
      u->name = "not";
      u->a.push_back(parse_not());
      --not_depth_;
      return u;
    }
    return parse_compare();
  }
  // The comparison operator at the cursor ("" if none), consuming it when `take`.
  std::string compare_op(bool take) {
    std::string op;
    size_t n = 1;
    if (cur().t == Tok::T::Op && (cur().s == "==" || cur().s == "!=" || cur().s == "<" || cur().s == ">" ||
                                  cur().s == "<=" || cur().s == ">=")) {
      op = cur().s;
    } else if (is_name("in")) {
      op = "in";
    } else if (is_name("not") && peek().t == Tok::T::Name && peek().s == "in") {
      op = "notin";
      n = 2;
    }
    if (take && !op.empty()) i_ += n;
    return op;
  }
  // Python chains comparisons: `a < b < c` is `a < b and b < c` (Jinja2 compiles to Python's own
  // chain). The middle operand is parsed twice to give each comparison its own tree.
  ExprPtr parse_compare() {
    ExprPtr e = parse_math1();
    ExprPtr chain;
    while (true) {
      const int line = cur().line;
      const std::string op = compare_op(/*take=*/true);
      if (op.empty()) return chain ? binary("and", std::move(chain), std::move(e), line) : std::move(e);
      const size_t start = i_;
      ExprPtr rhs = parse_math1();
      if (compare_op(/*take=*/false).empty()) {
        e = binary(op, std::move(e), std::move(rhs), line);
        continue;
      }
      const size_t end = i_;
      i_ = start;
      ExprPtr rhs_again = parse_math1();
      i_ = end;
      ExprPtr cmp = binary(op, std::move(e), std::move(rhs), line);
      chain = chain ? binary("and", std::move(chain), std::move(cmp), line) : std::move(cmp);
      e = std::move(rhs_again);
    }
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const std::string op = cur().s;
      const int line = cur().line;
      ++i_;
      e = binary(op, std::move(e), parse_concat(), line);
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math2();
    while (is_op("~")) {
      const int line = cur().line;
      ++i_;
      e = binary("~", std::move(e), parse_math2(), line);
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const std::string op = cur().s;
      const int line = cur().line;
      ++i_;
      e = binary(op, std::move(e), parse_pow(), line);
    }
    return e;
  }
  ExprPtr parse_pow() {
    ExprPtr e = parse_unary();
    while (is_op("**")) {
      const int line = cur().line;
      ++i_;
      e = binary("**", std::move(e), parse_unary(), line);
    }
    return e;
  }
  ExprPtr parse_unary(bool with_filter = true) {
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      const int line = cur().line;
      auto u = node(Expr::K::Unary, line);
      u->name = cur().s;
      ++i_;
      if (++not_depth_ > 400) throw JinjaError("expression nesting too deep", line);
      u->a.push_back(parse_unary(false));
      --not_depth_;
      e = std::move(u);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Tok& tk = cur();
    const int line = tk.line;
    if (tk.t == Tok::T::Name) {
      ++i_;
      auto c = node(Expr::K::Const, line);
      if (tk.s == "true" || tk.s == "True") { c->value = Value(true); return c; }
      if (tk.s == "false" || tk.s == "False") { c->value = Value(false); return c; }
      if (tk.s == "none" || tk.s == "None") { c->value = Value::none(); return c; }
      auto n = node(Expr::K::Name, line);
      n->name = tk.s;
      return n;
    }
    if (tk.t == Tok::T::String) {
      std::string s;
      while (cur().t == Tok::T::String) s += t_[i_++].s;  // adjacent literals concatenate
      auto c = node(Expr::K::Const, line);
      c->value = Value(s);
      return c;
    }
    if (tk.t == Tok::T::Int || tk.t == Tok::T::Float) {
      ++i_;
      auto c = node(Expr::K::Const, line);
      c->value = tk.v;
      return c;
    }
    if (is_op("(")) {
      ++i_;
      if (is_op(")")) {
        ++i_;
        return node(Expr::K::Tuple, line);
      }
      ExprPtr e = parse_expression();
      if (is_op(",")) {
        auto t = node(Expr::K::Tuple, line);
        t->a.push_back(std::move(e));
        while (is_op(",")) {
          ++i_;
          if (is_op(")")) break;
          t->a.push_back(parse_expression());
        }
        e = std::move(t);
      }
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      ++i_;
      auto l = node(Expr::K::List, line);
      while (!is_op("]")) {
        if (!l->a.empty()) expect_op(",");
        if (is_op("]")) break;
        l->a.push_back(parse_expression());
      }
      ++i_;
      return l;
    }
    if (is_op("{")) {
      ++i_;
      auto d = node(Expr::K::Dict, line);
      while (!is_op("}")) {
        if (!d->a.empty()) expect_op(",");
        if (is_op("}")) break;
        d->a.push_back(parse_expression());
        expect_op(":");
        d->a.push_back(parse_expression());
      }
      ++i_;
      return d;
    }
    fail("unexpected token in expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      const int line = cur().line;
      if (is_op(".")) {
        ++i_;
        if (cur().t == Tok::T::Int) {
          auto g = node(Expr::K::Getitem, line);
          g->a.push_back(std::move(e));
          auto c = node(Expr::K::Const, line);
          c->value = t_[i_++].v;
          g->a.push_back(std::move(c));
          e = std::move(g);
        } else {
          auto g = node(Expr::K::Getattr, line);
          g->name = expect_name();
          g->a.push_back(std::move(e));
          e = std::move(g);
        }
      } else if (is_op("[")) {
        ++i_;
        e = parse_subscript(std::move(e), line);
      } else if (is_op("(")) {
        auto c = node(Expr::K::Call, line);
        c->a.push_back(std::move(e));
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
      e = fix(std::move(e));
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int line) {
    ExprPtr parts[3];
    int n = 0;
    bool is_slice = false;
    while (true) {
      if (is_op(":")) {
        is_slice = true;
        ++i_;
        if (++n > 2) fail("bad slice");
        continue;
      }
      if (is_op("]")) break;
      if (parts[n]) fail("expected ']'");
      parts[n] = parse_expression();
    }
    ++i_;
    if (!is_slice) {
      if (!parts[0]) fail("empty subscript");
      auto g = node(Expr::K::Getitem, line);
      g->a.push_back(std::move(obj));
      g->a.push_back(std::move(parts[0]));
      return g;
    }
    auto s = node(Expr::K::Slice, line);
    s->a.push_back(std::move(obj));
    for (auto& p : parts) s->a.push_back(std::move(p));
    return s;
  }

  void parse_call_args(Expr& c) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) expect_op(",");
      first = false;
      if (is_op(")")) break;
      if (is_op("*") || is_op("**")) throw JinjaError("*args/**kwargs in calls are not supported", cur().line);
      if (cur().t == Tok::T::Name && peek().t == Tok::T::Op && peek().s == "=") {
        std::string k = t_[i_].s;
        i_ += 2;
        c.kw.emplace_back(std::move(k), parse_expression());
      } else {
        if (!c.kw.empty()) fail("positional argument after keyword argument");
        c.a.push_back(parse_expression());
      }
    }
    ++i_;
  }

  ExprPtr parse_filter_call(ExprPtr operand) {
    const int line = cur().line;
    auto f = node(Expr::K::Filter, line);
    f->name = expect_name();
    while (is_op(".")) {  // dotted filter names
      ++i_;
      f->name += "." + expect_name();
    }
    f->a.push_back(std::move(operand));
    if (is_op("(")) parse_call_args(*f);
    return fix(std::move(f));
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      if (is_op("|")) {
        ++i_;
        e = parse_filter_call(std::move(e));
      } else if (is_name("is")) {
        const int line = cur().line;
        ++i_;
        auto t = node(Expr::K::Test, line);
        if (is_name("not")) {
          t->negated = true;
          ++i_;
        }
        t->name = expect_name();
        while (is_op(".")) {
          ++i_;
          t->name += "." + expect_name();
        }
        t->a.push_back(std::move(e));
        if (is_op("(")) {
          parse_call_args(*t);
        } else if ((cur().t == Tok::T::Name || cur().t == Tok::T::String || cur().t == Tok::T::Int ||
                    cur().t == Tok::T::Float || is_op("[") || is_op("{")) &&
                   !is_name("else") && !is_name("or") && !is_name("and") && !is_name("if") && !is_name("in") &&
                   !is_name("not") && !is_name("is")) {
          // One argument without parentheses: `is divisibleby 3`, `is sameas none`.
          ExprPtr arg = parse_primary();
          t->a.push_back(parse_postfix(std::move(arg)));
        }
        const bool has_args = t->a.size() > 1 || !t->kw.empty();
        e = std::move(t);
        // Jinja2 would read the `is` as the test's argument and refuses.
        if (!has_args && is_name("is")) throw JinjaError("You cannot chain multiple tests with is", cur().line);
      } else {
        return e;
      }
      e = fix(std::move(e));
    }
  }
};

}  // namespace

Body parse_template(const std::string& source, bool trim_blocks, bool lstrip_blocks, bool keep_trailing_newline) {
  Lexer lexer(source, trim_blocks, lstrip_blocks, keep_trailing_newline);
  Parser parser(lexer.run());
  return parser.parse_all();
}

}  // namespace r1::jinja
