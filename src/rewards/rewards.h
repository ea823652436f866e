// Rule-based rewards for GRPO and rejection sampling (DeepSeek-R1 §2.2.2: accuracy and format
// rewards; §2.3.3: language consistency). A reward is a named pure function
// (prompt, completion, gold) -> float; RewardSet maps names to functions so that callers can
// plug in their own.
#pragma once
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace r1::task {
struct Problem;
}

namespace r1::rewards {

/// A reward: prompt text, completion text (what the policy generated, without the prompt) and
/// the gold answer -> reward (the built-ins return values in [0, 1]).
using RewardFn = std::function<float(std::string_view prompt, std::string_view completion, std::string_view gold)>;

/// The completion's final answer: the text after the last `</think>` (or the whole completion
/// when there is none), reduced to its `\boxed{}` / `<answer>` content when present, else, when
/// that text is longer than one answer, its last number (math_verify.h extract_answer).
/// Returns "" when the completion has an unclosed `<think>` (the reasoning never finished).
std::string final_answer(std::string_view prompt, std::string_view completion);

/// The one answer-checking rule of evaluation (`r1 eval`), GRPO's accuracy reward and
/// distillation's rejection sampling: the completion's final_answer(prompt, completion), checked
/// by the embedded task's own rule when `problem` is given (task::check_answer; countdown accepts
/// any valid expression that reaches the target) and otherwise math_equal to `gold`. False when no
/// answer is extracted. `answer`, when not null, receives the extracted answer ("" if none).
bool answer_correct(std::string_view prompt, std::string_view completion, std::string_view gold,
                    const task::Problem* problem = nullptr, std::string* answer = nullptr);

/// 1 when answer_correct(prompt, completion, gold) (no task problem: math_equal), else 0.
float accuracy_reward(std::string_view prompt, std::string_view completion, std::string_view gold);

/// 1 when the completion is `<think>REASONING</think>ANSWER` with exactly one think block, no
/// other think tags, non-blank REASONING and ANSWER, else 0. A prompt that ends with an opened
/// `<think>` (R1 chat templates add "<think>\n" to the generation prompt) counts as the
/// completion's opening tag.
float format_reward(std::string_view prompt, std::string_view completion, std::string_view gold);

/// Language consistency (DeepSeek-R1 §2.3.3): the fraction of the reasoning's letters (the think
/// block, or the whole completion without one) written in the prompt's main script (Latin, Han/
/// kana, Hangul, Cyrillic, Greek, Arabic, ...; the script with most letters in the prompt, Latin
/// when it has none). 1 when the reasoning has no letters.
float language_consistency_reward(std::string_view prompt, std::string_view completion, std::string_view gold);

/// Named rewards. `with_defaults()` holds "accuracy", "format" and "language".
class RewardSet {
 public:
  static RewardSet with_defaults();
  /// Adds or replaces `name`.
  void add(const std::string& name, RewardFn fn) { fns_[name] = std::move(fn); }
  /// The function called `name`, or nullptr.
  const RewardFn* find(const std::string& name) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, RewardFn> fns_;
};

/// The main script of a text's letters, by Unicode block: "latin", "han" (CJK ideographs and
/// kana), "hangul", "cyrillic", "greek", "arabic", "hebrew", "devanagari", "thai", "other";
/// "" when the text has no letters.
std::string main_script(std::string_view text);

}  // namespace r1::rewards
