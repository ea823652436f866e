// pass@k and majority voting (see metrics.h).
#include "eval/metrics.h"

#include "core/check.h"

namespace r1::eval {

double pass_at_k(int n, int c, int k) {
  R1_CHECK(n >= 1 && c >= 0 && c <= n && k >= 1 && k <= n, "pass_at_k: need 0 <= c <= n, 1 <= k <= n");
  if (n - c < k) return 1.0;  // every k-subset holds a correct sample
  double prod = 1.0;
  for (int i = n - c + 1; i <= n; ++i) prod *= 1.0 - static_cast<double>(k) / i;
  return 1.0 - prod;
}

int majority_vote(const std::vector<std::string>& answers,
                  const std::function<bool(std::string_view, std::string_view)>& same) {
  std::vector<int> rep;    // index of each class's representative
  std::vector<int> count;  // its size
  for (int i = 0; i < static_cast<int>(answers.size()); ++i) {
    if (answers[i].empty()) continue;
    bool placed = false;
    for (size_t c = 0; c < rep.size() && !placed; ++c) {
      if (same(answers[rep[c]], answers[i])) {
        ++count[c];
        placed = true;
      }
    }
    if (!placed) {
      rep.push_back(i);
      count.push_back(1);
    }
  }
  int best = -1;
  for (size_t c = 0; c < rep.size(); ++c)
    if (best < 0 || count[c] > count[best]) best = static_cast<int>(c);
  return best < 0 ? -1 : rep[best];
}

}  // namespace r1::eval
