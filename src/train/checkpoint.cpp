#include "train/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <utility>

#include "core/storage.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"

namespace r1::train {

namespace fs = std::filesystem;

namespace {

Result<void> write_text(const std::string& path, const std::string& s) {
  return write_file_atomic(path, s.data(), s.size());
}

Result<void> copy_file_to(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  if (ec) return make_error("{}: cannot copy to {}: {}", from, to, ec.message());
  return {};
}

}  // namespace

std::string checkpoint_path(const std::string& out_dir, int64_t step) {
  return out_dir + "/checkpoint-" + std::to_string(step);
}

int64_t latest_checkpoint(const std::string& out_dir) {
  int64_t best = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(out_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("checkpoint-", 0) != 0 || !e.is_directory()) continue;
    const std::string num = n.substr(11);
    if (num.empty() || !std::all_of(num.begin(), num.end(), ::isdigit)) continue;
    if (!fs::exists(e.path() / "trainer_state.json")) continue;
    best = std::max<int64_t>(best, std::stoll(num));
  }
  return best;
}

Result<std::string> save_checkpoint(const std::string& out_dir, int64_t step, const TrainLM& lm,
                                    AdamW& opt, const nlohmann::json& state,
                                    const std::string& tokenizer_json,
                                    const nlohmann::json& generation_config, int keep_last) {
  const std::string final_dir = checkpoint_path(out_dir, step);
  const std::string tmp = out_dir + "/.tmp-checkpoint-" + std::to_string(step);
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return make_error("{}: cannot create: {}", tmp, ec.message());
  R1_TRY(lm.save_weights(tmp));
  io::SafetensorsWriter w;
  const auto& params = lm.params();
  for (size_t i = 0; i < params.size(); ++i) {
    std::vector<int64_t> shape(params[i].data.shape().begin(),
                               params[i].data.shape().begin() + params[i].data.ndim());
    R1_TRY(w.add_tensor("m." + params[i].name, opt.m()[i].data(), shape));
    R1_TRY(w.add_tensor("v." + params[i].name, opt.v()[i].data(), shape));
  }
  R1_TRY(w.write(tmp + "/optimizer.safetensors"));
  if (!tokenizer_json.empty()) {
    R1_TRY(copy_file_to(tokenizer_json, tmp + "/tokenizer.json"));
    const fs::path tc = fs::path(tokenizer_json).parent_path() / "tokenizer_config.json";
    if (fs::exists(tc)) R1_TRY(copy_file_to(tc.string(), tmp + "/tokenizer_config.json"));
  }
  R1_TRY(write_text(tmp + "/generation_config.json", generation_config.dump(2) + "\n"));
  nlohmann::json st = state;
  st["step"] = step;
  st["optimizer_t"] = opt.t();
  // trainer_state.json last: its presence marks a complete checkpoint.
  R1_TRY(write_text(tmp + "/trainer_state.json", st.dump(2) + "\n"));
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) return make_error("{}: cannot rename to {}: {}", tmp, final_dir, ec.message());
  // Keep the newest keep_last complete checkpoints.
  std::vector<int64_t> steps;
  for (const auto& e : fs::directory_iterator(out_dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("checkpoint-", 0) == 0) {
      const std::string num = n.substr(11);
      if (!num.empty() && std::all_of(num.begin(), num.end(), ::isdigit))
        steps.push_back(std::stoll(num));
    }
  }
  std::sort(steps.rbegin(), steps.rend());
  for (size_t i = size_t(std::max(keep_last, 1)); i < steps.size(); ++i)
    fs::remove_all(checkpoint_path(out_dir, steps[i]), ec);
  return final_dir;
}

Result<nlohmann::json> load_optimizer(const std::string& ckpt, const TrainLM& lm, AdamW& opt) {
  R1_ASSIGN_OR_RETURN(f, io::SafetensorsFile::open(ckpt + "/optimizer.safetensors"));
  const auto& params = lm.params();
  for (size_t i = 0; i < params.size(); ++i) {
    for (int which = 0; which < 2; ++which) {
      const std::string name = (which == 0 ? "m." : "v.") + params[i].name;
      R1_ASSIGN_OR_RETURN(t, f.tensor(name));
      if (t.dtype() != DType::F32 || t.numel() != params[i].data.numel())
        return make_error("{}/optimizer.safetensors: tensor {} has shape {}, expected {} F32",
                          ckpt, name, t.shape_str(), params[i].data.shape_str());
      const float* src = std::as_const(t).data<float>();
      auto& dst = which == 0 ? opt.m()[i] : opt.v()[i];
      std::copy(src, src + t.numel(), dst.begin());
    }
  }
  std::ifstream sf(ckpt + "/trainer_state.json");
  nlohmann::json st = nlohmann::json::parse(sf, nullptr, false);
  if (st.is_discarded() || !st.is_object() || !st.contains("step") ||
      !st.contains("optimizer_t"))
    return make_error("{}/trainer_state.json: missing or malformed (needs step, optimizer_t)",
                      ckpt);
  opt.set_t(st["optimizer_t"].get<int64_t>());
  return st;
}

}  // namespace r1::train
