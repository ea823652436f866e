// ThreadPool: a fixed set of workers that run one parallel loop at a time with the caller taking
// part. A loop is done when all its chunks are done, not when every worker has checked in, so a
// worker the OS has descheduled (a loaded machine) never stalls the caller: the caller claims
// the remaining chunks itself. Idle workers spin briefly (decode issues hundreds of small loops
// per token), then sleep on a condition variable (std::atomic::wait in libstdc++ 12 lost
// wake-ups here).
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace r1 {

/// Physical cores of this machine (logical CPUs / threads per core), at least 1.
int physical_cores();

class ThreadPool {
 public:
  /// A pool running loops on `n_threads` threads in all (the caller plus n_threads-1 workers).
  /// n_threads <= 0 means physical_cores().
  explicit ThreadPool(int n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  /// Calls fn(begin, end, thread_index) over [0, n) split into chunks of at least `grain`
  /// items (the last may be shorter). Chunks shrink as the loop drains (guided scheduling: a
  /// claim takes 1/(2 x threads) of what is left), so threads finish together after few claims.
  /// Returns when all are done; n must be below 2^32. thread_index is in [0, size()) and unique
  /// among the calls running at the same moment (use it to pick per-thread scratch). Exceptions
  /// from fn are rethrown in the caller. Not reentrant: fn must not call parallel_for on this pool.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t, int64_t, int)>& fn);
  /// The same for any callable (a lambda): wrapped by reference, so no std::function is built
  /// on the heap (a lambda capturing more than two pointers would be), keeping decode, which
  /// issues hundreds of loops per token, free of allocations.
  template <class F>
    requires(!std::is_same_v<std::decay_t<F>, std::function<void(int64_t, int64_t, int)>>)
  void parallel_for(int64_t n, int64_t grain, F&& fn) {
    const std::function<void(int64_t, int64_t, int)> ref = std::ref(fn);
    parallel_for(n, grain, ref);
  }

  /// Calls fn(i, n_threads) for each i in [0, n_threads), spread over the pool.
  void run_on_all(const std::function<void(int, int)>& fn);

 private:
  // One job's parameters. Two slots alternate by generation parity so a worker that read a
  // stale generation can only fail its claim (compare-and-swap on state_), never run a chunk
  // with another job's parameters.
  struct Job {
    std::atomic<const std::function<void(int64_t, int64_t, int)>*> fn{nullptr};
    std::atomic<int64_t> n{0}, grain{1};
    std::atomic<int64_t> done{0};  // items finished
  };
  void worker_main(int index);
  // Claims and runs chunks of generation `gen` until none are left.
  void run_chunks(uint32_t gen, int thread_index);

  int n_threads_;
  std::vector<std::thread> workers_;
  Job jobs_[2];
  std::atomic<uint64_t> state_{0};     // generation << 32 | next item index
  std::atomic<uint32_t> wake_{0};      // bumped per job and at shutdown
  std::atomic<int> sleepers_{0};       // workers blocked on cv_ (notify only when > 0)
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  std::mutex error_mu_;
  std::exception_ptr error_;
};

}  // namespace r1
