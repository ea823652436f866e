// Helpers shared by the training loops (pretrain, SFT): progress ETA text and metrics.jsonl
// trimming on resume.
#pragma once
#include <cstdint>
#include <string>

#include "core/result.h"

namespace r1::train {

/// Seconds as "1h2m", "3m4s" or "5s" for progress lines.
std::string eta_string(double seconds);

/// Keeps only the metrics.jsonl lines whose "step" is <= last_step (a resumed run rewrites the
/// rest), atomically. Lines that are not JSON objects with an integer "step" are dropped.
Result<void> truncate_metrics(const std::string& path, int64_t last_step);

}  // namespace r1::train
