// ThreadPool: a fixed set of workers that run one parallel loop at a time with the caller taking
// part. Workers spin briefly between loops (decode issues hundreds of small loops per token, and a
// sleep/wake per loop would cost more than the work), then sleep on a condition variable.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
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
  /// items; returns when all are done. Exceptions from fn are rethrown in the caller.
  /// Not reentrant: fn must not call parallel_for on the same pool.
  void parallel_for(int64_t n, int64_t grain,
                    const std::function<void(int64_t, int64_t, int)>& fn);

  /// Calls fn(i, n_threads) for each i in [0, n_threads), spread over the pool.
  void run_on_all(const std::function<void(int, int)>& fn);

 private:
  void worker_main(int index);
  void run_chunks(int thread_index);

  int n_threads_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<int64_t> next_chunk_{0};
  bool stop_ = false;
  // The current job.
  const std::function<void(int64_t, int64_t, int)>* job_ = nullptr;
  int64_t n_ = 0, chunk_ = 1, n_chunks_ = 0;
  std::exception_ptr error_;
  std::mutex error_mu_;
};

}  // namespace r1
