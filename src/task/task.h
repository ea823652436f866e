// The embedded reasoning task (issue 7): seeded problem generators with checkable answers
// (multi-digit arithmetic, linear equations, countdown) and a *base corpus* generator for
// pretraining whose solutions mix styles like web text: bare answers (often wrong on hard
// problems), step-by-step work inside <think> (mostly right, occasional slips), self-corrections
// (`wait <fix>`) and self-checking passages (`check ...`) that catch a slip and redo the work.
//
// Format (after ../shared/R1ZERO-TOY.md, whose recipe worked): prompt `Q:347+589=?A:`, completion
// either a bare answer or `<think>7+9=16 4+8+1=13 3+5+1=9</think>936`; columns from the least
// significant digit with the carry written out. Checking pays off by construction: a slip
// propagates to the answer, and a `check` passage recomputes the result by the inverse operation
// (or by substitution), so a trace that checks and redoes after a mismatch ends right far more
// often than one that does not (see CorpusOptions).
//
// Determinism: every function is a pure function of its seed (own splitmix64 generator, no
// std:: distributions, whose output differs between standard libraries). Held-out problems are
// chosen by a hash of the prompt, so the test split never appears in a train split or corpus.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace r1::task {

/// A small deterministic generator (splitmix64; Steele et al. 2014).
class TaskRng {
 public:
  explicit TaskRng(uint64_t seed) : s_(seed) {}
  uint64_t next();
  /// Uniform integer in [lo, hi] (inclusive), by 128-bit multiply (no modulo bias worth noting).
  int64_t uniform_int(int64_t lo, int64_t hi);
  /// Uniform in [0, 1).
  double uniform();
  bool bernoulli(double p) { return uniform() < p; }

 private:
  uint64_t s_;
};

/// One problem. `answer` is the canonical answer string (an integer for arith/linear, one valid
/// expression for countdown, where any expression reaching the target with the given numbers is
/// accepted by check_answer).
struct Problem {
  std::string family;            // "arith", "linear", "countdown"
  int level = 0;                 // difficulty level it was drawn at (0 = the default mix)
  std::string prompt;            // e.g. "Q:347+589=?A:"
  std::string answer;            // e.g. "936"
  std::vector<int64_t> numbers;  // operands (arith: a, b; linear: a, b, c; countdown: the pool)
  char op = 0;                   // arith: '+', '-', '*'
  int64_t target = 0;            // countdown target; arith/linear: the integer answer
  bool hard = false;             // arith: any carry/borrow; linear: |a| > 1; countdown: always
};

enum class Split { Train, Test };

/// The families `r1 task` knows: {"arith", "linear", "countdown"}.
const std::vector<std::string>& task_names();

/// True when `prompt` belongs to the held-out split: FNV-1a(prompt) mod 1000 < 1000 * fraction.
bool is_test_prompt(std::string_view prompt, double test_fraction = 0.1);

/// Draws one problem of `family` at `level` (0 = default mix; 1..4 harder). Errors: unknown family
/// or level (the message lists the valid ones).
Result<Problem> draw_problem(const std::string& family, int level, TaskRng& rng);

/// `n` problems of `split`, deterministic in (family, level, seed, split). Test problems are
/// distinct (when the family has enough of them, else repeats after 200*n draws); train
/// problems may repeat. Errors: as draw_problem.
Result<std::vector<Problem>> generate(const std::string& family, int64_t n, uint64_t seed, Split split,
                                      int level = 0);

/// The arith problem `a op b` (op one of + - *; a, b >= 0), level 0.
Problem arith_problem(int64_t a, char op, int64_t b);

/// Whether `answer` (a completion's final answer text) solves `p`: arith/linear compare the
/// integer (spaces and a leading '+' ignored); countdown evaluates the expression exactly
/// (integers, + - * /, parentheses; every division exact) and requires each number of the pool
/// to be used at most as often as it appears and the value to equal the target.
bool check_answer(const Problem& p, std::string_view answer);

/// Corpus style mix (defaults reproduce the prototype's recipe; check_share is this project's
/// addition for the "checking pays off" design).
struct CorpusOptions {
  double think_share = 0.35;      // documents with a <think> trace; the rest are bare answers
  double p_slip = 0.06;           // per computed step: the result is off by one (propagates)
  double p_wait = 0.3;            // after a slip: "wait <the step redone right>" follows
  double check_share = 0.25;      // think traces that end with a check passage (inverse operation)
  double bare_right_easy = 0.9;   // bare answers: right with this probability on easy problems
  double bare_right_hard = 0.2;   //   ... and on hard ones; otherwise a near miss
  int level = 0;                  // problem level (0 = default mix)
};

/// One generated completion with the style labels the corpus statistics count.
struct Solution {
  std::string completion;  // "<think>...</think>936" or "936"
  bool think = false;      // has a <think> block
  bool wait = false;       // contains a "wait" self-correction
  bool check = false;      // contains a "check" passage
  bool correct = false;    // its final answer is right
};

/// A solution of `p` in the corpus style (draws the style, slips and fixes from `rng`).
Solution write_solution(const Problem& p, const CorpusOptions& opts, TaskRng& rng);

/// A fully correct think trace (no slips), e.g. for SFT targets and tests.
std::string correct_trace(const Problem& p);

/// `n` pretraining documents (prompt + completion, one line each, no newline inside) over train
/// problems only, plus per-document solutions for statistics. Deterministic in (family, n, seed,
/// opts). Errors: as draw_problem.
struct Corpus {
  std::vector<std::string> documents;
  std::vector<Solution> solutions;
};
Result<Corpus> generate_corpus(const std::string& family, int64_t n, uint64_t seed, const CorpusOptions& opts);

}  // namespace r1::task
