// Server counters and their Prometheus text exposition (GET /metrics): requests by endpoint and
// status, prompt/generated tokens, queue length, busy slots, recent tokens/s and a time-to-first-
// token histogram. Thread-safe; one instance per server, passed explicitly.
// Format: https://prometheus.io/docs/instrumenting/exposition_formats/ (text format 0.0.4).
#pragma once
#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "server/queue.h"

namespace r1::server {

class Metrics {
 public:
  /// One answered HTTP request (any endpoint, any status).
  void on_request(const std::string& endpoint, int status);
  /// Prompt tokens of an admitted job.
  void on_prompt_tokens(int64_t n);
  /// One decode step produced `n` tokens at time `t` (tokens/s is measured over the last 10 s).
  void on_tokens(int64_t n, Clock::time_point t);
  /// One decode step advanced `batch` sequences together (continuous batching: the ratio of
  /// r1_decode_sequences_total to r1_decode_steps_total is the mean batch size).
  void on_step(int64_t batch) {
    ++decode_steps_;
    decode_sequences_ += batch;
  }
  /// Time from admission to the first generated token of a job, in seconds.
  void on_first_token(double seconds);
  /// Gauges, set by the scheduler each step.
  void set_queue_length(int64_t n) { queue_length_.store(n); }
  void set_busy_slots(int64_t n) { busy_slots_.store(n); }

  /// Generated tokens per second over the last `window_s` seconds ending now.
  double tokens_per_second(Clock::time_point now) const;
  int64_t generation_tokens() const { return generation_tokens_.load(); }

  /// The Prometheus text exposition. `slots` is --parallel (a constant gauge).
  std::string render(int64_t slots) const;

  static constexpr double kWindowSeconds = 10.0;
  /// Histogram bucket upper bounds for time to first token, seconds.
  static constexpr std::array<double, 12> kTtftBuckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                          0.5,   1.0,  2.5,   5.0,  10.0, 30.0};

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
  std::atomic<int64_t> prompt_tokens_{0};
  std::atomic<int64_t> generation_tokens_{0};
  std::atomic<int64_t> decode_steps_{0};
  std::atomic<int64_t> decode_sequences_{0};
  std::atomic<int64_t> queue_length_{0};
  std::atomic<int64_t> busy_slots_{0};
  std::deque<std::pair<Clock::time_point, int64_t>> recent_;  // (step time, tokens), guarded by mu_
  std::array<int64_t, kTtftBuckets.size()> ttft_counts_{};   // non-cumulative, guarded by mu_
  int64_t ttft_count_ = 0;
  double ttft_sum_ = 0;
};

}  // namespace r1::server
