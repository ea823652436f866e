// `r1 verify GOLD PRED` / `r1 verify --jsonl FILE`: the math verifier from the command line, for
// people debugging a reward or a benchmark score. Prints `true` or `false`, one line per pair.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "rewards/math_verify.h"

namespace r1::cli {
namespace {

// A JSON string or number as text.
std::optional<std::string> field_text(const nlohmann::json& j, const char* name) {
  if (!j.contains(name)) return std::nullopt;
  const auto& v = j[name];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return v.dump();
  return std::nullopt;
}

}  // namespace

int cmd_verify(int argc, char** argv) {
  CLI::App app{
      "Check whether a predicted answer matches a gold answer with r1's math verifier (the accuracy "
      "reward's rule): prints true or false. PRED may be a bare answer or a whole completion (its "
      "last \\boxed{} / <answer> block, else its final number, is used).",
      "verify"};
  std::string gold, pred, jsonl;
  app.add_option("GOLD", gold, "reference answer, e.g. '\\frac{1}{2}'");
  app.add_option("PRED", pred, "predicted answer or completion, e.g. '0.5'");
  app.add_option("--jsonl", jsonl,
                 "file of {\"gold\": ..., \"pred\": ...} objects, one per line ('-' = stdin); prints one "
                 "line per pair");
  int threads = 0;
  add_threads_option_single(app, threads, "verifying");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  if (jsonl.empty()) {
    if (app.count("GOLD") == 0 || app.count("PRED") == 0) {
      std::fprintf(stderr, "r1 verify: give GOLD and PRED, or --jsonl FILE (see --help)\n");
      return 2;
    }
    std::printf("%s\n", rewards::verify(gold, pred) ? "true" : "false");
    return 0;
  }
  if (app.count("GOLD") || app.count("PRED")) {
    std::fprintf(stderr, "r1 verify: give either GOLD PRED or --jsonl FILE, not both\n");
    return 2;
  }
  std::ifstream file;
  std::istream* in = &std::cin;
  if (jsonl != "-") {
    file.open(jsonl);
    if (!file) {
      std::fprintf(stderr, "r1 verify: %s: cannot open\n", jsonl.c_str());
      return 1;
    }
    in = &file;
  }
  // Read and validate every line first, so malformed input prints one error and no verdicts.
  std::vector<std::pair<std::string, std::string>> pairs;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(*in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception&) {
      std::fprintf(stderr, "r1 verify: %s:%lld: not valid JSON\n", jsonl.c_str(), static_cast<long long>(lineno));
      return 1;
    }
    if (!j.is_object()) {
      std::fprintf(stderr, "r1 verify: %s:%lld: not a JSON object\n", jsonl.c_str(), static_cast<long long>(lineno));
      return 1;
    }
    auto g = field_text(j, "gold");
    auto p = field_text(j, "pred");
    if (!g || !p) {
      std::fprintf(stderr, "r1 verify: %s:%lld: needs string or number fields \"gold\" and \"pred\"\n",
                   jsonl.c_str(), static_cast<long long>(lineno));
      return 1;
    }
    pairs.emplace_back(std::move(*g), std::move(*p));
  }
  for (const auto& [g, p] : pairs) std::printf("%s\n", rewards::verify(g, p) ? "true" : "false");
  return 0;
}

}  // namespace r1::cli
