// Helpers shared by the training loops (pretrain, SFT, GRPO, distillation sampling): wall-clock
// throughput and ETA for progress lines and metrics, ETA text, and metrics.jsonl trimming on
// resume.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "core/result.h"

namespace r1::train {

/// Seconds on the steady clock (from an arbitrary fixed origin): ProgressMeter's default clock.
double steady_seconds();

/// Wall-clock progress of a loop of steps: the rate is the tokens of the steps done over the time
/// since the meter was made, everything in between included (checkpoints, validation, logging),
/// and the ETA is that time per step times the steps left, so both agree with a clock on the
/// wall. There is deliberately no pause: nothing a run spends time on can drop out of the rate.
class ProgressMeter {
 public:
  /// Counts from `first_step` (steps already done when this process started: 0, or the resumed
  /// checkpoint's step) to `last_step`. `now` returns seconds, non-decreasing; it is read once
  /// here (the start) and once per step_done.
  ProgressMeter(int64_t first_step, int64_t last_step,
                std::function<double()> now = steady_seconds);
  /// Step number `step` (first_step < step <= last_step) is finished, with `tokens` processed.
  void step_done(int64_t step, int64_t tokens);
  /// Tokens of the steps done / seconds from the start to the last step_done (0 before any).
  double tokens_per_s() const;
  /// Seconds from the start to the last step_done.
  double elapsed_s() const { return elapsed_s_; }
  /// Seconds left at the mean wall time per step so far (0 before any step).
  double eta_s() const;

 private:
  std::function<double()> now_;
  double start_s_ = 0, elapsed_s_ = 0;
  int64_t first_step_ = 0, last_step_ = 0, step_ = 0, tokens_ = 0;
};

/// Seconds as "1h2m", "3m4s" or "5s" for progress lines.
std::string eta_string(double seconds);

/// Keeps only the metrics.jsonl lines whose "step" is <= last_step (a resumed run rewrites the
/// rest), atomically. Lines that are not JSON objects with an integer "step" are dropped.
Result<void> truncate_metrics(const std::string& path, int64_t last_step);

}  // namespace r1::train
