#include "core/thread_pool.h"

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <utility>

#include "core/check.h"

namespace r1 {

namespace {
inline void cpu_relax() {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

int physical_cores() {
  // Count distinct (physical id, core id) pairs; fall back to hardware_concurrency.
  std::ifstream f("/proc/cpuinfo");
  std::set<std::pair<std::string, std::string>> cores;
  std::string line, phys = "0";
  while (std::getline(f, line)) {
    auto val = [&] { return line.substr(line.find(':') + 1); };
    if (line.rfind("physical id", 0) == 0) phys = val();
    if (line.rfind("core id", 0) == 0) cores.insert({phys, val()});
  }
  int n = int(cores.size());
  if (n <= 0) n = int(std::thread::hardware_concurrency());
  return std::max(1, n);
}

ThreadPool::ThreadPool(int n_threads) : n_threads_(n_threads > 0 ? n_threads : physical_cores()) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true);
  wake_.fetch_add(1);
  {
    std::lock_guard<std::mutex> lk(mu_);
  }
  cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run_chunks(uint32_t gen, int thread_index) {
  Job& job = jobs_[gen & 1];
  for (;;) {
    uint64_t s = state_.load(std::memory_order_acquire);
    if (uint32_t(s >> 32) != gen) return;
    const int64_t b = int64_t(s & 0xffffffffu);
    // A stale generation fails the compare-and-swap below, so n and grain, read before it,
    // are used only when they belong to `gen`.
    const int64_t n = job.n.load(std::memory_order_relaxed);
    if (b >= n) return;
    const int64_t grain = job.grain.load(std::memory_order_relaxed);
    const int64_t left = n - b, share = (left + 2 * n_threads_ - 1) / (2 * n_threads_);
    const int64_t e = std::min(n, b + std::max(grain, share));
    if (!state_.compare_exchange_weak(s, (s & ~uint64_t(0xffffffffu)) | uint64_t(e),
                                      std::memory_order_acq_rel))
      continue;
    try {
      (*job.fn.load(std::memory_order_relaxed))(b, e, thread_index);
    } catch (...) {
      std::lock_guard<std::mutex> lk(error_mu_);
      if (!error_) error_ = std::current_exception();
    }
    job.done.fetch_add(e - b, std::memory_order_acq_rel);
  }
}

void ThreadPool::worker_main(int index) {
  // Start from 0, not the current value: a worker scheduled late (after the destructor's bump)
  // must still see that bump and exit.
  uint32_t seen = 0;
  for (;;) {
    if (stop_.load()) return;
    uint32_t w = wake_.load(std::memory_order_acquire);
    for (int spin = 0; w == seen && spin < 4000; ++spin) {
      cpu_relax();
      w = wake_.load(std::memory_order_acquire);
    }
    if (w == seen) {
      std::unique_lock<std::mutex> lk(mu_);
      sleepers_.fetch_add(1);
      cv_.wait(lk, [&] { return wake_.load() != seen || stop_.load(); });
      sleepers_.fetch_sub(1);
      continue;
    }
    if (stop_.load()) return;
    seen = w;
    run_chunks(uint32_t(state_.load(std::memory_order_acquire) >> 32), index);
  }
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t, int)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  if (n_threads_ == 1 || n <= grain) {
    fn(0, n, 0);
    return;
  }
  R1_CHECK(n < (int64_t(1) << 32), "parallel_for over {} items (limit 2^32)", n);
  const uint32_t gen = uint32_t(state_.load(std::memory_order_relaxed) >> 32) + 1;
  Job& job = jobs_[gen & 1];
  job.fn.store(&fn, std::memory_order_relaxed);
  job.n.store(n, std::memory_order_relaxed);
  job.grain.store(grain, std::memory_order_relaxed);
  job.done.store(0, std::memory_order_relaxed);
  error_ = nullptr;
  state_.store(uint64_t(gen) << 32, std::memory_order_release);  // publishes the job
  // seq_cst pairs with the sleeper's increment: either it sees the new wake_ or we see it.
  wake_.fetch_add(1);
  if (sleepers_.load() > 0) {
    { std::lock_guard<std::mutex> lk(mu_); }
    cv_.notify_all();
  }
  run_chunks(gen, 0);
  // Only chunks already claimed by workers remain; wait for them, yielding if they are slow
  // (a descheduled worker must not make us burn our time slice).
  for (int spin = 0; job.done.load(std::memory_order_acquire) != n; ++spin) {
    if (spin < 2000) cpu_relax();
    else std::this_thread::yield();
  }
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::run_on_all(const std::function<void(int, int)>& fn) {
  parallel_for(n_threads_, 1, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) fn(int(i), n_threads_);
  });
}

}  // namespace r1
