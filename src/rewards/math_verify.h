// Math answer extraction and equivalence: the rule that decides whether a model's final answer
// matches a reference (MATH-500 / GSM8K / AIME golds, the embedded task). Used by the accuracy
// reward (GRPO), rejection sampling (distill) and `r1 eval` / `r1 verify`.
//
// Equivalence is decided structurally, then numerically: matrices elementwise, unions of
// intervals as multisets, `\{...\}` sets and bare comma lists unordered, tuples/intervals ordered
// with their bracket kinds compared, `a = b` equations either by the right-hand side (when the
// left side is one variable) or as proportional `lhs - rhs`, and scalars by evaluating both as
// expressions (a small LaTeX expression evaluator) at several deterministic random points of their
// variables, with a relative tolerance of 1e-9 and no absolute one (see close() in the .cpp); a
// plain decimal equals a value only when it is that value exactly (0.333 is not 1/3).
// Answers that are words (`\text{Evelyn}`) are compared as lower-cased text.
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace r1::rewards {

/// The contents of the last `\boxed{...}` or `\fbox{...}` in `text` (nested braces balanced;
/// also `\boxed 5`), or nullopt when there is none or its braces never close.
std::optional<std::string> extract_boxed(std::string_view text);

/// True when `text` holds a `\boxed` or `\fbox` command, whether or not its braces close.
bool has_box_command(std::string_view text);

/// True when `s` is well-formed as far as grouping goes: unescaped `{}` balance, `\left` and
/// `\right` pair up, and round/square brackets and `\{ \}` never close more than they opened and
/// are all closed at the end (kinds may differ: intervals such as `(3,4]`). `\frac{1}{`,
/// `\boxed{12`, `1\right)` and `(1,2` are not.
bool balanced_latex(std::string_view s);

/// The final answer of a model completion: the last `\boxed{}`/`\fbox{}`, else the last
/// `<answer>...</answer>` block, else the text after a GSM8K-style `####`, else the last number
/// in the text (a signed integer, decimal or a/b fraction; thousands separators kept). Returns ""
/// when none is found, or when the last box never closes (`\boxed{12` is no answer, and an
/// earlier closed box does not stand in for it). Cost: O(len).
std::string extract_answer(std::string_view completion);

/// The answer string to compare when a reference or prediction may be either a bare answer or a
/// completion: `\boxed{}` / `<answer>` content when present, else the text itself (trimmed); ""
/// when the last box never closes.
std::string answer_text(std::string_view s);

/// True when the two answer strings denote the same mathematical object (see the file comment).
/// Both are answers, not whole completions (use answer_text/extract_answer first). Symmetric; a
/// percentage ("50\%") equals both its number (50) and its fraction (0.5). Numbers compare by
/// relative difference at any magnitude (1e-30 and 2e-30 differ); a repeating decimal
/// (0.\overline{3}) equals its fraction. False when either side is not balanced_latex.
/// Never throws; unparseable input falls back to normalised text equality.
bool math_equal(std::string_view gold, std::string_view pred);

/// A canonical string for `answer` (LaTeX spacing, \left/\right, \dfrac, units, degrees, $ and
/// thousands separators removed; a pure number printed in shortest form): equal canonical strings
/// imply math_equal, not conversely. Used as a display/vote key.
std::string normalize_answer(std::string_view answer);

/// `r1 verify`'s rule: math_equal(answer_text(gold), answer_text(pred)), and when that fails and
/// `pred` holds no box command or `<answer>` block, is balanced_latex and does not parse as an
/// answer, the last number in `pred` (extract_answer) is tried.
bool verify(std::string_view gold, std::string_view pred);

/// Numeric value of an answer without variables (e.g. "\frac{3}{2}", "1,000", "2\sqrt{3}"), if it
/// parses as a single expression and its LaTeX is balanced (as math_equal requires). Exposed for
/// tests and cons@k keys.
std::optional<double> numeric_value(std::string_view answer);

}  // namespace r1::rewards
