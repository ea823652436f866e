// Importance-matrix collection; see imatrix_collector.h.
#include "eval/imatrix_collector.h"

#include <algorithm>

#include "kernels/matmul_observer.h"

namespace r1::eval {
namespace {

void observer_thunk(void* user, const kernels::WeightView& w, const float* x, int64_t T) {
  static_cast<ImatrixCollector*>(user)->observe(w, x, T);
}

}  // namespace

ImatrixCollector::~ImatrixCollector() { stop(); }

void ImatrixCollector::add_weight(const std::string& name, const Tensor& t) {
  if (!name.starts_with("blk.") || t.ndim() < 2 || !t.defined()) return;
  // A 3-D expert tensor is reported once per expert slice a loader takes.
  for (const Entry& e : entries_)
    if (e.name == name) return;
  Entry e;
  e.name = name;
  e.begin = t.bytes();
  e.end = e.begin + t.nbytes();
  e.n_mat = t.ndim() >= 3 ? t.dim(0) : 1;
  e.ne0 = t.row_len();
  e.mat_bytes = int64_t(t.nbytes()) / e.n_mat;
  e.sums.assign(size_t(e.n_mat * e.ne0), 0.0);
  e.counts.assign(size_t(e.n_mat), 0);
  entries_.push_back(std::move(e));
}

void ImatrixCollector::start() {
  std::sort(entries_.begin(), entries_.end(),
            [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  kernels::set_matmul_observer(&observer_thunk, this);
  started_ = true;
}

void ImatrixCollector::stop() {
  if (!started_) return;
  kernels::set_matmul_observer(nullptr, nullptr);
  started_ = false;
}

void ImatrixCollector::observe(const kernels::WeightView& w, const float* x, int64_t T) {
  const auto* p = static_cast<const uint8_t*>(w.data);
  auto it = std::upper_bound(entries_.begin(), entries_.end(), p,
                             [](const uint8_t* v, const Entry& e) { return v < e.begin; });
  if (it == entries_.begin()) return;
  Entry& e = *std::prev(it);
  if (p >= e.end || w.k != e.ne0 || T <= 0) return;
  const int64_t first = (p - e.begin) / e.mat_bytes;
  const int64_t last = std::min<int64_t>(e.n_mat - 1, (p + w.n * int64_t(w.row_bytes) - 1 - e.begin) / e.mat_bytes);
  std::vector<double> col(size_t(e.ne0), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x + t * e.ne0;
    for (int64_t j = 0; j < e.ne0; ++j) col[size_t(j)] += double(xt[j]) * double(xt[j]);
  }
  for (int64_t m = first; m <= last; ++m) {
    double* s = e.sums.data() + m * e.ne0;
    for (int64_t j = 0; j < e.ne0; ++j) s[j] += col[size_t(j)];
    e.counts[size_t(m)] += T;
  }
}

models::Imatrix ImatrixCollector::result(std::vector<std::string> datasets, uint32_t chunk_count,
                                         uint32_t chunk_size) const {
  models::Imatrix m;
  m.datasets = std::move(datasets);
  m.chunk_count = chunk_count;
  m.chunk_size = chunk_size;
  for (const Entry& e : entries_) {
    int64_t total = 0;
    for (int64_t c : e.counts) total += c;
    if (total == 0) continue;
    models::ImatrixEntry out;
    out.sums.assign(e.sums.begin(), e.sums.end());
    const bool expert = e.name.find("_exps") != std::string::npos;
    const bool all_equal = std::all_of(e.counts.begin(), e.counts.end(),
                                       [&](int64_t c) { return c == e.counts[0]; });
    out.counts = !expert && all_equal ? std::vector<int64_t>{e.counts[0]} : e.counts;
    m.entries[e.name] = std::move(out);
  }
  return m;
}

}  // namespace r1::eval
