// Context-free grammars for constrained decoding: llama.cpp's GBNF text format parsed into flat
// rules, and a byte-level matcher (a pushdown recogniser over the grammar's stacks) that says
// which bytes may come next. token_mask.h turns it into per-step token masks; json_schema.h
// compiles JSON schemas into GBNF.
// GBNF: https://github.com/ggml-org/llama.cpp/blob/master/grammars/README.md (rules `name ::= ...`,
// "literals", [classes], [^negated], `.`, ( groups ), |, * + ? {m} {m,} {m,n}, # comments; the
// start rule is `root`).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace r1::grammar {

/// One element of a rule's alternative. Alternatives are stored back to back in one array, each
/// ending with an End element.
struct Elem {
  enum class Kind : uint8_t { End, Chars, Ref };
  Kind kind = Kind::End;
  int32_t arg = 0;  // Chars: index into Grammar::charsets; Ref: rule id
};

/// A set of Unicode code points: ranges (inclusive), possibly negated; ASCII answered by a table.
struct CharSet {
  bool negated = false;
  std::vector<std::pair<uint32_t, uint32_t>> ranges;
  bool ascii[128] = {};  // membership of code points < 128, negation applied
  bool contains(uint32_t cp) const;
  /// Whether some code point in [lo, hi] is in the set.
  bool intersects(uint32_t lo, uint32_t hi) const;
  /// The smallest member, preferring printable ASCII (for shortest completions); 0 when empty.
  /// Cost: up to the whole code space; parse_gbnf stores it in `first`.
  uint32_t smallest() const;
  uint32_t first = 0;
};

/// A parsed grammar: rules of alternatives over code-point sets and rule references.
/// Immutable after parse; shared by every matcher of it.
struct Grammar {
  struct Rule {
    std::string name;
    std::vector<int32_t> alts;  // start index of each alternative in `elems`
  };
  std::vector<Rule> rules;
  std::vector<Elem> elems;
  std::vector<CharSet> charsets;
  int32_t root = 0;
  // Shortest completion from each element position to the end of its alternative, bytes, and
  // each rule's shortest text (completions are built from these on demand).
  std::vector<int64_t> rest_bytes;
  std::vector<std::string> rule_text;
  static constexpr int64_t kInfinite = INT64_MAX / 4;
};

/// Parses GBNF text. Errors (one line, with the byte offset): syntax errors, an undefined rule,
/// no `root` rule, left recursion (rule names given), a rule with no finite derivation, and the
/// limits on outside input: groups nested deeper than 64, more than 10,000 rules or 200,000
/// elements after expanding repetitions, a rule whose shortest match exceeds 64 KiB.
Result<std::shared_ptr<const Grammar>> parse_gbnf(std::string_view text);

/// An incremental recogniser of one grammar: the set of parse stacks after the bytes fed so far.
/// Stacks are persistent linked frames in a pool owned by the matcher, so a step copies nothing
/// but the few stack heads, and `mark`/`rewind` undo steps cheaply (token_mask.cpp walks the
/// vocabulary with them). Bytes form UTF-8 code points; a partial code point is accepted while
/// some stack could still take a code point starting with those bytes.
class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> g);

  /// Feeds one byte; false (and the state unchanged) when no parse can take it.
  bool accept_byte(uint8_t b);
  /// Feeds bytes in order; false when one was refused (the state is then undefined: use mark).
  bool accept_bytes(std::string_view s);
  /// The whole input so far is a complete sentence of the grammar (at a code-point boundary).
  bool complete() const { return accepting_ && pending_ == 0; }
  /// No more bytes can be accepted (only the end may come).
  bool finished() const { return heads_.empty() && pending_ == 0; }
  /// Length in bytes of the shortest text that completes the input (0 when complete();
  /// Grammar::kInfinite when the state is inside a code point).
  int64_t shortest_completion_bytes() const;
  /// That text (empty when complete() or inside a code point).
  std::string shortest_completion() const;
  /// A canonical key of the state (equal keys: equal futures); for mask caches.
  std::string key() const;

  struct Mark {
    size_t pool = 0;
    std::vector<int32_t> heads;
    bool accepting = false;
    uint32_t cp = 0;
    int pending = 0;
    int len = 0;
  };
  Mark mark() const { return {pool_.size(), heads_, accepting_, cp_, pending_, len_}; }
  /// mark() into an existing Mark, reusing its storage (no allocation in steady state).
  void mark_into(Mark& m) const {
    m.pool = pool_.size();
    m.heads.assign(heads_.begin(), heads_.end());
    m.accepting = accepting_;
    m.cp = cp_;
    m.pending = pending_;
    m.len = len_;
  }
  /// Frames in the pool (for deciding when to compact).
  size_t pool_size() const { return pool_.size(); }
  size_t n_heads() const { return heads_.size(); }
  void rewind(const Mark& m);
  /// Forgets frames that no stack refers to any more (call between tokens; keeps the pool
  /// proportional to the live stacks, not to the text). Invalidates earlier marks.
  void compact();
  const Grammar& grammar() const { return *g_; }

 private:
  struct Frame {
    int32_t pos;     // element to match next (a Chars element for heads)
    int32_t parent;  // frame to continue with when this alternative ends; -1: the root's
  };
  void expand(int32_t pos, int32_t parent, std::vector<int32_t>& out, bool& accepting, int depth);
  bool advance(uint32_t cp);
  // Whether a code point whose bits so far are `v`, with `remaining` continuation bytes to come,
  // can still be a valid one some stack takes.
  bool feasible(uint32_t v, int remaining) const;
  int64_t head_rest_bytes(int32_t head) const;

  std::shared_ptr<const Grammar> g_;
  std::vector<Frame> pool_;
  std::vector<int32_t> heads_;  // frames whose pos is a Chars element
  std::vector<int32_t> scratch_;
  bool accepting_ = false;
  uint32_t cp_ = 0;   // code point bits so far
  int pending_ = 0;   // continuation bytes still expected
  int len_ = 0;       // bytes of the current multi-byte sequence in all
};

}  // namespace r1::grammar
