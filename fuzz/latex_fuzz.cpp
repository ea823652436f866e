// libFuzzer harness for the math verifier (src/rewards: latex_expr's recursive-descent parser and
// math_verify's answer extraction and comparison); its input is model output, so anything.
// Input: a completion, optionally followed by "\n\x1e\n" and a gold answer (default: the
// completion's own extracted answer). Invariants: no crash, hang or sanitizer report; an answer
// verifies against itself whenever it has a numeric value.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "rewards/latex_expr.h"
#include "rewards/math_verify.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1::rewards;
  const auto [completion, gold_in] = r1::fuzz::split2(std::string_view(reinterpret_cast<const char*>(data), size));
  if (auto e = parse_expr(completion)) {
    std::set<std::string> vars;
    collect_vars(*e, vars);
    std::map<std::string, double> bind;
    for (const auto& v : vars) bind[v] = 0.75;
    (void)eval_expr(*e, bind);
  }
  (void)extract_boxed(completion);
  const std::string pred = extract_answer(completion);
  (void)answer_text(completion);
  (void)normalize_answer(pred);
  const std::string gold = gold_in.empty() ? pred : std::string(gold_in);
  (void)math_equal(gold, pred);
  (void)verify(gold, completion);
  if (auto v = numeric_value(pred); v && std::isfinite(*v) && !math_equal(pred, pred)) std::abort();
  return 0;
}
