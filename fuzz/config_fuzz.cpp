// libFuzzer harness for the config.json loaders (users point r1 at model folders we have never
// seen): the Llama/Qwen2 DecoderConfig (both registry variants) and the DeepSeek-V3/V2 Config.
// Input: config.json text, parsed as the loaders read it (io::parse_json_strict). Invariants: no
// crash, hang or sanitizer report; a DecoderConfig that validates survives
// decoder_config_to_json -> parse_decoder_config unchanged; a DeepSeek Config that validates
// gives its derived MLA/MoE configs and, when the tensor plan is of a size a loader would build,
// the plan and its parameter counts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "io/io_util.h"
#include "models/decoder_config.h"
#include "models/deepseek_v3/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace r1::models;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto j = r1::io::parse_json_strict(text, "fuzz/config.json");
  if (!j.ok()) return 0;
  for (int v = 0; v < 2; ++v) {
    DecoderVariant variant;
    variant.qkv_bias_always = v == 0;
    variant.read_attention_bias = v == 1;
    auto c = parse_decoder_config(*j, "fuzz/config.json", variant);
    if (!c.ok() || !c->validate("fuzz/config.json").ok()) continue;
    // decoder_config_to_json writes decoder architectures only (its documented precondition).
    if (find_decoder_arch(c->model_type) == nullptr) continue;
    const nlohmann::json back = decoder_config_to_json(*c);
    auto again = parse_decoder_config(back, "roundtrip", variant);
    if (!again.ok() || !again->validate("roundtrip").ok()) std::abort();
    if (decoder_config_to_json(*again) != back) std::abort();
  }
  auto d = deepseek_v3::parse_config(*j, "fuzz/config.json");
  if (d.ok() && d->validate("fuzz/config.json").ok()) {
    (void)d->mla();
    (void)d->moe();
    (void)d->softmax_scale();
    // The plan holds a few tensors per expert and layer; a loader builds it only after the
    // checkpoint's tensor count agrees, so skip plans no checkpoint could match.
    const double n_tensors = static_cast<double>(d->num_hidden_layers + d->num_nextn_predict_layers) *
                             (static_cast<double>(d->n_routed_experts) * 3 + 32);
    if (n_tensors < 1e5) {
      const auto plan = deepseek_v3::tensor_plan(*d);
      (void)deepseek_v3::count_params(*d, plan);
    }
  }
  return 0;
}
