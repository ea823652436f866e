// JSONL dataset readers (see dataset.h).
#include "eval/dataset.h"

#include <cctype>
#include <cmath>
#include <fstream>

#include <nlohmann/json.hpp>

#include "rewards/math_verify.h"

namespace r1::eval {
namespace {

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

// A JSON string or number as text; nullopt for other types.
std::optional<std::string> as_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  // Unsigned first: is_number_integer() also holds for values past INT64_MAX, which
  // get<int64_t>() would turn negative.
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (d == std::floor(d) && std::fabs(d) < 1e15) return std::to_string(static_cast<long long>(d));
    return nlohmann::json(d).dump();
  }
  return std::nullopt;
}

}  // namespace

std::string gsm8k_final_answer(std::string_view answer) {
  const size_t p = answer.rfind("####");
  if (p == std::string_view::npos) return trim(answer);
  std::string s = trim(answer.substr(p + 4));
  std::string o;
  for (char c : s)
    if (c != ',') o += c;
  return o;
}

Result<std::vector<EvalItem>> read_jsonl_dataset(const std::string& path, const DatasetFields& fields) {
  std::ifstream f(path);
  if (!f) return make_error("{}: cannot open (check the path)", path);
  std::vector<EvalItem> items;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(f, line)) {
    ++lineno;
    if (trim(line).empty()) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      return make_error("{}:{}: not valid JSON", path, lineno);
    }
    if (!j.is_object()) return make_error("{}:{}: not a JSON object", path, lineno);
    auto pick = [&](const std::string& given, std::initializer_list<const char*> auto_names,
                    const char* what) -> Result<std::string> {
      std::vector<std::string> names;
      if (!given.empty()) names.push_back(given);
      else
        for (auto n : auto_names) names.emplace_back(n);
      for (const auto& n : names) {
        if (!j.contains(n)) continue;
        auto t = as_text(j[n]);
        if (!t) return make_error("{}:{}: field '{}' is not a string or number", path, lineno, n);
        return *t;
      }
      std::string tried;
      for (const auto& n : names) tried += (tried.empty() ? "" : ", ") + n;
      return make_error("{}:{}: no {} field (tried {}; set --{}-field)", path, lineno, what, tried, what);
    };
    EvalItem it;
    R1_ASSIGN_OR_RETURN(problem, pick(fields.problem_field, {"problem", "question", "prompt"}, "problem"));
    it.problem = problem;
    auto answer = pick(fields.answer_field, {"answer", "final_answer"}, "answer");
    if (!answer.ok() && fields.answer_field.empty() && j.contains("solution") && j["solution"].is_string()) {
      auto boxed = rewards::extract_boxed(j["solution"].get<std::string>());
      if (boxed) answer = *boxed;
    }
    if (!answer.ok()) return answer.error();
    it.answer = answer->find("####") != std::string::npos ? gsm8k_final_answer(*answer) : trim(*answer);
    items.push_back(std::move(it));
  }
  if (items.empty()) return make_error("{}: no problems (empty file)", path);
  return items;
}

Result<std::vector<EvalItem>> task_dataset(const std::string& name, int64_t n, uint64_t seed, int level) {
  R1_ASSIGN_OR_RETURN(problems, task::generate(name, n, seed, task::Split::Test, level));
  std::vector<EvalItem> items;
  for (auto& p : problems) {
    EvalItem it;
    it.problem = p.prompt;
    it.answer = p.answer;
    it.task = std::move(p);
    items.push_back(std::move(it));
  }
  return items;
}

}  // namespace r1::eval
