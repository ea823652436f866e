// Training checkpoints: OUT/checkpoint-STEP/ is a Hugging Face model directory (config.json,
// model.safetensors in F32, tokenizer.json, generation_config.json) that `r1 run` loads, plus
// optimizer.safetensors (AdamW moments "m.NAME"/"v.NAME") and trainer_state.json (step, seed,
// optimizer step count). Written into OUT/.tmp-checkpoint-STEP and renamed into place, so a
// kill at any moment leaves either the previous set or the new complete one; older ones beyond
// keep_last are removed after the rename.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "train/lm.h"
#include "train/optim.h"

namespace r1::train {

/// Writes checkpoint `step` under out_dir (see above). tokenizer_json: file copied as
/// tokenizer.json (and tokenizer_config.json from its folder when present); may be empty.
/// state: extra fields stored in trainer_state.json. Returns the checkpoint's path.
Result<std::string> save_checkpoint(const std::string& out_dir, int64_t step, const TrainLM& lm,
                                    AdamW& opt, const nlohmann::json& state,
                                    const std::string& tokenizer_json,
                                    const nlohmann::json& generation_config, int keep_last);

/// The highest complete checkpoint step under out_dir, or -1 when there is none
/// (temporary directories are ignored).
int64_t latest_checkpoint(const std::string& out_dir);
std::string checkpoint_path(const std::string& out_dir, int64_t step);

/// Restores AdamW's moments and step count from checkpoint dir `ckpt` (params in lm's order).
/// Errors: missing file or tensor, shape mismatch (naming the tensor).
Result<nlohmann::json> load_optimizer(const std::string& ckpt, const TrainLM& lm, AdamW& opt);

}  // namespace r1::train
