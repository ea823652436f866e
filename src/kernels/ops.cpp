#include "kernels/ops.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/check.h"
#include "kernels/ops_detail.h"

namespace r1::kernels {

void rmsnorm(const float* x, const float* weight, float eps, float* out, int64_t T, int64_t D) {
  R1_CHECK(D > 0, "rmsnorm over D={}", D);
  detail::rmsnorm_simd(x, weight, eps, out, T, D);
}

void rmsnorm_ref(const float* x, const float* weight, float eps, float* out, int64_t T, int64_t D) {
  for (int64_t t = 0; t < T; ++t) {
    double ss = 0;
    for (int64_t i = 0; i < D; ++i) ss += double(x[t * D + i]) * x[t * D + i];
    const double r = 1.0 / std::sqrt(ss / double(D) + double(eps));
    for (int64_t i = 0; i < D; ++i) out[t * D + i] = float(x[t * D + i] * r * weight[i]);
  }
}

void softmax(float* x, int64_t n) {
  R1_CHECK(n > 0, "softmax of {} elements", n);
  detail::softmax_simd(x, n);
}

void softmax_ref(float* x, int64_t n) {
  double m = x[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, double(x[i]));
  double sum = 0;
  std::vector<double> e(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) sum += (e[i] = std::exp(double(x[i]) - m));
  for (int64_t i = 0; i < n; ++i) x[i] = float(e[i] / sum);
}

void silu(const float* x, float* out, int64_t n) { detail::swiglu_simd(x, nullptr, out, n); }

void swiglu(const float* gate, const float* up, float* out, int64_t n) {
  detail::swiglu_simd(gate, up, out, n);
}

void silu_ref(const float* x, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = float(double(x[i]) / (1.0 + std::exp(-double(x[i]))));
}

void swiglu_ref(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i)
    out[i] = float(double(gate[i]) / (1.0 + std::exp(-double(gate[i]))) * double(up[i]));
}

int64_t argmax(const float* x, int64_t n) {
  R1_CHECK(n > 0, "argmax of {} elements", n);
  int64_t best = -1;
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    if (best < 0 || x[i] > x[best]) best = i;
  }
  return best < 0 ? 0 : best;
}

namespace {
// "a ranks before b": larger value first, then lower index; NaN ranks last.
inline bool ranks_before(float va, int64_t ia, float vb, int64_t ib) {
  const bool na = std::isnan(va), nb = std::isnan(vb);
  if (na != nb) return nb;
  if (!na && va != vb) return va > vb;
  return ia < ib;
}
}  // namespace

void top_k(const float* x, int64_t n, int64_t k, int32_t* idx, float* val) {
  R1_CHECK(k >= 1 && k <= n, "top_k with k={} of n={}", k, n);
  // A min-heap of the best k seen so far (the heap top is the worst of them). Per thread and
  // reused: MoE routing calls this per layer per decoded token (decode must not allocate).
  thread_local std::vector<int32_t> heap;
  heap.clear();
  heap.reserve(size_t(k));
  auto worse = [&](int32_t a, int32_t b) { return ranks_before(x[a], a, x[b], b); };
  for (int64_t i = 0; i < n; ++i) {
    if (int64_t(heap.size()) < k) {
      heap.push_back(int32_t(i));
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (ranks_before(x[i], i, x[heap.front()], heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = int32_t(i);
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  }
  std::sort_heap(heap.begin(), heap.end(), worse);
  for (int64_t j = 0; j < k; ++j) {
    idx[j] = heap[size_t(j)];
    if (val) val[j] = x[heap[size_t(j)]];
  }
}

void top_k_ref(const float* x, int64_t n, int64_t k, int32_t* idx, float* val) {
  std::vector<int32_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int32_t a, int32_t b) { return ranks_before(x[a], a, x[b], b); });
  for (int64_t j = 0; j < k; ++j) {
    idx[j] = order[size_t(j)];
    if (val) val[j] = x[order[size_t(j)]];
  }
}

}  // namespace r1::kernels
