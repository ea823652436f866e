#include "autograd/tape.h"

#include <cstring>

#include "core/check.h"

namespace r1::autograd {

std::unique_ptr<float[]> Tape::take(int64_t n, int64_t* capacity) {
  const int64_t m = n > 0 ? n : 1;
  // The smallest free buffer of m .. 2m floats: sizes that vary from step to step (the tokens
  // routed to each expert) still reuse memory instead of asking the system for fresh pages (a
  // large new buffer is mmapped and page-faulted on first touch).
  auto it = free_.lower_bound(m);
  if (it != free_.end() && it->first <= 2 * m) {
    *capacity = it->first;
    std::unique_ptr<float[]> b = std::move(it->second);
    free_.erase(it);
    return b;
  }
  *capacity = m;
  return std::unique_ptr<float[]>(new float[size_t(m)]);
}

float* Tape::alloc(int64_t n) {
  R1_CHECK(n >= 0, "alloc of {} floats", n);
  int64_t cap = 0;
  std::unique_ptr<float[]> b = take(n, &cap);
  arena_sized_.emplace_back(cap, std::move(b));
  float* p = arena_sized_.back().second.get();
  Region r;
  r.n = n;
  regions_[reinterpret_cast<const char*>(p)] = std::move(r);
  return p;
}

void Tape::add_param(const float* data, int64_t n, float* grad) {
  Region r;
  r.n = n;
  r.grad = grad;
  r.param = true;
  regions_[reinterpret_cast<const char*>(data)] = std::move(r);
}

Tape::Region* Tape::find(const char* p, int64_t bytes, const char** begin) {
  auto it = regions_.upper_bound(p);
  if (it == regions_.begin()) return nullptr;
  --it;
  const char* b = it->first;
  const int64_t rb = it->second.n * int64_t(sizeof(float));
  if (p >= b + rb && !(rb == 0 && p == b)) return nullptr;
  R1_CHECK(p + bytes <= b + rb, "gradient slice of {} bytes straddles a buffer of {} bytes", bytes,
           rb);
  *begin = b;
  return &it->second;
}

float* Tape::grad(const void* pv, int64_t n) {
  const char* p = static_cast<const char*>(pv);
  const char* b = nullptr;
  Region* r = find(p, n * int64_t(sizeof(float)), &b);
  if (r == nullptr) {
    // An address the tape never saw (e.g. a caller's buffer): a region of exactly this slice.
    auto next = regions_.upper_bound(p);
    R1_CHECK(next == regions_.end() || next->first >= p + n * int64_t(sizeof(float)),
             "gradient slice overlaps a later buffer");
    Region nr;
    nr.n = n;
    r = &(regions_[p] = std::move(nr));
    b = p;
  }
  if (r->grad == nullptr) {
    r->owned = take(r->n, &r->owned_n);
    std::memset(r->owned.get(), 0, size_t(r->n) * sizeof(float));
    r->grad = r->owned.get();
  }
  return r->grad + (p - b) / int64_t(sizeof(float));
}

float* Tape::grad_if(const void* pv) {
  const char* p = static_cast<const char*>(pv);
  const char* b = nullptr;
  Region* r = find(p, 0, &b);
  if (r == nullptr || r->grad == nullptr) return nullptr;
  return r->grad + (p - b) / int64_t(sizeof(float));
}

void Tape::backward() {
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) (*it)();
  nodes_.clear();
}

void Tape::clear() {
  nodes_.clear();
  for (auto it = regions_.begin(); it != regions_.end();) {
    if (it->second.param) {
      ++it;
    } else {
      if (it->second.owned) free_.emplace(it->second.owned_n, std::move(it->second.owned));
      it = regions_.erase(it);
    }
  }
  for (auto& [n, b] : arena_sized_) free_.emplace(n, std::move(b));
  arena_sized_.clear();
  keep_.clear();
}

}  // namespace r1::autograd
