// Metrics of the R1 evaluation protocol (DeepSeek-R1 §3, "Evaluation Setup"): pass@1 as the mean
// correctness of k samples, cons@k as majority voting over the k extracted answers, and pass@k by
// the unbiased estimator of Chen et al. 2021 (Codex paper, §2.1).
#pragma once
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace r1::eval {

/// Unbiased pass@k from n samples of which c are correct: 1 - C(n-c, k) / C(n, k), computed
/// stably as 1 - prod_{i=n-c+1}^{n} (1 - k / i) (Chen et al. 2021, Figure 3). Preconditions:
/// 0 <= c <= n, 1 <= k <= n (checked: R1_CHECK).
double pass_at_k(int n, int c, int k);

/// Majority vote: the index of the representative answer of the largest class of equivalent
/// non-empty answers (`same(a, b)` decides equivalence; each answer joins the first class whose
/// representative it matches). Ties go to the class that appeared first. -1 when every answer is
/// empty. Cost: O(k * classes) calls of `same`.
int majority_vote(const std::vector<std::string>& answers,
                  const std::function<bool(std::string_view, std::string_view)>& same);

}  // namespace r1::eval
