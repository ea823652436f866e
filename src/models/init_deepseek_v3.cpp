// Random-weight DeepSeek-V3 HF directories from a config (the `r1 zero` base and
// `r1 pretrain --model-config` of a deepseek_v3 config): see init_model.h.
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/storage.h"
#include "models/deepseek_v3/config.h"
#include "models/init_model.h"

namespace r1::models {

namespace fs = std::filesystem;

Result<void> write_random_deepseek_v3(const nlohmann::json& config, const std::string& dir,
                                      uint64_t seed) {
  const nlohmann::json& cj = config;
  R1_ASSIGN_OR_RETURN(cfg, deepseek_v3::parse_config(cj, dir + "/config.json"));
  R1_TRY(cfg.validate(dir + "/config.json"));
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error("{}: cannot create directory: {}", dir, ec.message());
  const auto plan = deepseek_v3::tensor_plan(cfg);
  nlohmann::json header = nlohmann::json::object();
  uint64_t offset = 0;
  std::vector<const deepseek_v3::TensorSpec*> kept;
  for (const auto& t : plan) {
    if (t.optional) continue;
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + uint64_t(numel) * 4}}};
    offset += uint64_t(numel) * 4;
    kept.push_back(&t);
  }
  header["__metadata__"] = {{"format", "pt"}, {"r1_init_seed", std::to_string(seed)}};
  std::string h = header.dump();
  h.append((8 - h.size() % 8) % 8, ' ');
  std::string bytes(8, '\0');
  for (int i = 0; i < 8; ++i) bytes[size_t(i)] = char(uint8_t(uint64_t(h.size()) >> (8 * i)));
  bytes += h;
  // Data in plan order, matching the offsets above (the header's key order does not matter).
  std::vector<float> buf;
  uint64_t key = 0;
  for (const auto* t : kept) {
    const std::string& name = t->name;
    int64_t numel = 1;
    for (int64_t d : t->shape) numel *= d;
    buf.assign(size_t(numel), 0.0f);
    const bool norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    if (norm) {
      std::fill(buf.begin(), buf.end(), 1.0f);
    } else if (name.find("e_score_correction_bias") == std::string::npos) {
      fill_normal(seed, key, 0, numel, 0.02f, buf.data());
    }
    ++key;
    bytes.append(reinterpret_cast<const char*>(buf.data()), buf.size() * 4);
  }
  R1_TRY(write_file_atomic(dir + "/model.safetensors", bytes.data(), bytes.size()));
  const std::string c = config.dump(2) + "\n";
  R1_TRY(write_file_atomic(dir + "/config.json", c.data(), c.size()));
  nlohmann::json gen{{"do_sample", true}, {"temperature", 0.6}, {"top_p", 0.95}};
  if (config.contains("eos_token_id")) gen["eos_token_id"] = config["eos_token_id"];
  const std::string g = gen.dump(2) + "\n";
  R1_TRY(write_file_atomic(dir + "/generation_config.json", g.data(), g.size()));
  return {};
}

}  // namespace r1::models
