// Evaluation datasets: JSONL readers for the benchmark files in ../shared/data (MATH-500
// problem/answer, GSM8K question/answer with "#### N", AIME problem/answer or prompt/answer) and
// the embedded task's problems, all as EvalItems (problem text + gold answer).
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "task/task.h"

namespace r1::eval {

/// One problem to evaluate.
struct EvalItem {
  std::string problem;                  // the question text (or the task's raw prompt)
  std::string answer;                   // the gold answer (GSM8K: the number after ####)
  std::optional<task::Problem> task;    // set for embedded-task problems (checked by task rules)
};

/// Field names of a JSONL dataset; empty means auto-detect (problem: "problem", "question",
/// "prompt"; answer: "answer", "final_answer", "solution"'s \boxed{} as a last resort).
struct DatasetFields {
  std::string problem_field;
  std::string answer_field;
};

/// The final answer of a GSM8K solution: the text after the last "####", trimmed, with thousands
/// separators removed ("#### 1,000" -> "1000"). Returns the trimmed input when there is no ####.
std::string gsm8k_final_answer(std::string_view answer);

/// Reads a JSONL dataset (one JSON object per line; blank lines skipped). Numbers as answers are
/// printed as integers when integral. Errors: unreadable file; "FILE:LINE: not valid JSON";
/// "FILE:LINE: no problem field (tried ...)"; "FILE:LINE: field 'X' is not a string or number";
/// an empty file.
Result<std::vector<EvalItem>> read_jsonl_dataset(const std::string& path, const DatasetFields& fields = {});

/// `n` held-out problems of the embedded task `name` (task::generate, Split::Test).
Result<std::vector<EvalItem>> task_dataset(const std::string& name, int64_t n, uint64_t seed, int level = 0);

}  // namespace r1::eval
