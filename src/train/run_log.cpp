#include "train/run_log.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/storage.h"

namespace r1::train {

double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

ProgressMeter::ProgressMeter(int64_t first_step, int64_t last_step, std::function<double()> now)
    : now_(std::move(now)), first_step_(first_step), last_step_(last_step), step_(first_step) {
  start_s_ = now_();
}

void ProgressMeter::step_done(int64_t step, int64_t tokens) {
  step_ = step;
  tokens_ += tokens;
  elapsed_s_ = now_() - start_s_;
}

double ProgressMeter::tokens_per_s() const {
  return step_ > first_step_ ? double(tokens_) / std::max(elapsed_s_, 1e-9) : 0.0;
}

double ProgressMeter::eta_s() const {
  if (step_ <= first_step_) return 0.0;
  return elapsed_s_ / double(step_ - first_step_) * double(std::max<int64_t>(last_step_ - step_, 0));
}

std::string eta_string(double s) {
  const int64_t t = int64_t(s + 0.5);
  if (t >= 3600) return std::to_string(t / 3600) + "h" + std::to_string((t % 3600) / 60) + "m";
  if (t >= 60) return std::to_string(t / 60) + "m" + std::to_string(t % 60) + "s";
  return std::to_string(t) + "s";
}

Result<void> truncate_metrics(const std::string& path, int64_t last_step) {
  std::ifstream f(path);
  std::string line, kept;
  while (std::getline(f, line)) {
    nlohmann::json j = nlohmann::json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("step") && j["step"].is_number_integer() &&
        j["step"].get<int64_t>() <= last_step)
      kept += line + "\n";
  }
  return write_file_atomic(path, kept.data(), kept.size());
}

}  // namespace r1::train
