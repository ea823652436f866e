// libFuzzer harness for a sharded checkpoint's model.safetensors.index.json (weight_map: tensor
// -> shard file) and the config.json fields HfModelDir reads (FP8 quantization_config included).
// Input: index text, optionally followed by "\n\x1e\n" and config.json text (default: an FP8
// config). The scratch folder holds two fixed valid shards. Invariants: no crash, hang or
// sanitizer report; a folder that opens serves every tensor it names, and only those.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "io/hf_model.h"
#include "io/safetensors_writer.h"

namespace {

std::string make_dir() {
  using namespace r1;
  const std::string d = fuzz::scratch_dir("safetensors_index");
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  io::SafetensorsWriter a;
  if (!a.add_tensor("model.a.weight", v.data(), {2, 3}).ok() ||
      !a.add_tensor("model.a.weight_scale_inv", v.data(), {1, 2}).ok() ||
      !a.write(d + "/model-00001-of-00002.safetensors").ok())
    std::abort();
  io::SafetensorsWriter b;
  if (!b.add_tensor("model.b.weight", v.data(), {4}, DType::BF16).ok() ||
      !b.add_tensor("lm_head.weight", v.data(), {}).ok() ||
      !b.write(d + "/model-00002-of-00002.safetensors").ok())
    std::abort();
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1;
  static const std::string dir = make_dir();
  const auto [index, config] = fuzz::split2(std::string_view(reinterpret_cast<const char*>(data), size));
  fuzz::write_file(dir + "/model.safetensors.index.json", index);
  fuzz::write_file(dir + "/config.json",
                   config.empty() ? R"({"quantization_config": {"quant_method": "fp8", "weight_block_size": [2, 2]}})"
                                  : config);
  auto m = io::HfModelDir::open(dir);
  if (!m.ok()) return 0;
  for (const auto& name : m->names()) {
    if (!m->has(name) || m->file_of(name) == nullptr) std::abort();
    auto t = m->tensor(name);
    if (!t.ok()) std::abort();  // the shards are valid: every mapped tensor must load
    (void)m->weight_scale_inv(name);
  }
  if (m->has("not.a.tensor") || m->tensor("not.a.tensor").ok()) std::abort();
  (void)m->is_fp8();
  (void)m->weight_block_size();
  for (const char* key : {"hidden_size", "rope_theta", "model_type", "tie_word_embeddings"}) {
    (void)m->config_int(key);
    (void)m->config_float(key);
    (void)m->config_string(key);
    (void)m->config_bool(key);
    (void)m->config_int_or(key, 1);
    (void)m->config_float_or(key, 1.0);
    (void)m->config_bool_or(key, false);
  }
  return 0;
}
