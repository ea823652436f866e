#include "train/run_log.h"

#include <fstream>

#include <nlohmann/json.hpp>

#include "core/storage.h"

namespace r1::train {

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
