// Prometheus counters of the server (see metrics.h).
#include "server/metrics.h"

#include <fmt/format.h>

namespace r1::server {

void Metrics::on_request(const std::string& endpoint, int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++requests_[{endpoint, status}];
}

void Metrics::on_prompt_tokens(int64_t n) { prompt_tokens_ += n; }

void Metrics::on_tokens(int64_t n, Clock::time_point t) {
  generation_tokens_ += n;
  std::lock_guard<std::mutex> lock(mu_);
  recent_.emplace_back(t, n);
  const auto horizon = t - std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(kWindowSeconds));
  while (!recent_.empty() && recent_.front().first < horizon) recent_.pop_front();
}

void Metrics::on_first_token(double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  ++ttft_count_;
  ttft_sum_ += seconds;
  for (size_t i = 0; i < kTtftBuckets.size(); ++i) {
    if (seconds <= kTtftBuckets[i]) {
      ++ttft_counts_[i];
      break;
    }
  }
}

double Metrics::tokens_per_second(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto horizon = now - std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(kWindowSeconds));
  int64_t n = 0;
  for (const auto& [t, k] : recent_) n += t >= horizon ? k : 0;
  return static_cast<double>(n) / kWindowSeconds;
}

std::string Metrics::render(int64_t slots) const {
  const double tps = tokens_per_second(Clock::now());
  std::lock_guard<std::mutex> lock(mu_);
  std::string s;
  s += "# HELP r1_requests_total HTTP requests answered, by endpoint and status.\n";
  s += "# TYPE r1_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    s += fmt::format("r1_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  }
  s += "# HELP r1_prompt_tokens_total Prompt tokens of admitted requests.\n";
  s += "# TYPE r1_prompt_tokens_total counter\n";
  s += fmt::format("r1_prompt_tokens_total {}\n", prompt_tokens_.load());
  s += "# HELP r1_generation_tokens_total Tokens generated.\n";
  s += "# TYPE r1_generation_tokens_total counter\n";
  s += fmt::format("r1_generation_tokens_total {}\n", generation_tokens_.load());
  s += "# HELP r1_decode_steps_total Decode steps run (one batched forward over the active sequences each).\n";
  s += "# TYPE r1_decode_steps_total counter\n";
  s += fmt::format("r1_decode_steps_total {}\n", decode_steps_.load());
  s += "# HELP r1_decode_sequences_total Sequences advanced, summed over decode steps.\n";
  s += "# TYPE r1_decode_sequences_total counter\n";
  s += fmt::format("r1_decode_sequences_total {}\n", decode_sequences_.load());
  s += "# HELP r1_queue_length Requests waiting for a decode slot.\n";
  s += "# TYPE r1_queue_length gauge\n";
  s += fmt::format("r1_queue_length {}\n", queue_length_.load());
  s += "# HELP r1_busy_slots Sequences being decoded.\n";
  s += "# TYPE r1_busy_slots gauge\n";
  s += fmt::format("r1_busy_slots {}\n", busy_slots_.load());
  s += "# HELP r1_slots Decode slots (--parallel).\n";
  s += "# TYPE r1_slots gauge\n";
  s += fmt::format("r1_slots {}\n", slots);
  s += fmt::format("# HELP r1_tokens_per_second Generated tokens per second over the last {} s.\n", kWindowSeconds);
  s += "# TYPE r1_tokens_per_second gauge\n";
  s += fmt::format("r1_tokens_per_second {:.3f}\n", tps);
  s += "# HELP r1_time_to_first_token_seconds Admission to first generated token.\n";
  s += "# TYPE r1_time_to_first_token_seconds histogram\n";
  int64_t cum = 0;
  for (size_t i = 0; i < kTtftBuckets.size(); ++i) {
    cum += ttft_counts_[i];
    s += fmt::format("r1_time_to_first_token_seconds_bucket{{le=\"{}\"}} {}\n", kTtftBuckets[i], cum);
  }
  s += fmt::format("r1_time_to_first_token_seconds_bucket{{le=\"+Inf\"}} {}\n", ttft_count_);
  s += fmt::format("r1_time_to_first_token_seconds_sum {:.6f}\n", ttft_sum_);
  s += fmt::format("r1_time_to_first_token_seconds_count {}\n", ttft_count_);
  return s;
}

}  // namespace r1::server
