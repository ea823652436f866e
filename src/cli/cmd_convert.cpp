// `r1 convert MODEL --out FILE.gguf --type q4_k_m`: a Hugging Face checkpoint (llama, qwen2, qwen3,
// deepseek_v2/deepseek_v3 as llama.cpp's deepseek2) to a GGUF file with llama.cpp's tensor names,
// metadata and per-tensor quantisation rules, loadable by llama.cpp and by r1.
#include <chrono>
#include <memory>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "models/convert.h"
#include "models/convert_quant_imatrix.h"

namespace r1::cli {

int cmd_convert(int argc, char** argv) {
  CLI::App app{"Converts a Hugging Face model directory (llama, qwen2, qwen3, deepseek_v2/v3) to GGUF. "
               "--type is a llama.cpp file type: the K-quant presets (_s/_m/_l) pick each "
               "matrix's type by llama.cpp's rules (e.g. q4_k_m puts some attn_v/ffn_down and the "
               "output in q6_k), and rows that are not whole blocks fall back as llama.cpp does "
               "(q4_k -> q5_0, q6_k -> q8_0, iq4_xs -> iq4_nl, ... then f16). Norms, biases and "
               "MoE routers stay f32. Llama Q/K rows are permuted and DeepSeek kv_b_proj is split "
               "into attn_k_b/attn_v_b as llama.cpp's converter does; DeepSeek-V3 MTP layers are "
               "skipped (llama.cpp has none). --imatrix FILE (llama.cpp's imatrix GGUF or legacy "
               ".dat, or r1 imatrix's output) weights the quantisers by input importance as "
               "llama-quantize --imatrix does, and enables the iq1/iq2/iq3_xxs and q2_k_s types.",
               "r1 convert"};
  std::string model_dir, out_path, type_name = "f16";
  std::vector<std::string> tensor_types;
  bool pure = false;
  app.add_option("model", model_dir, "Hugging Face model directory")->required();
  app.add_option("--out", out_path, "output .gguf file (written atomically)")->required();
  app.add_option("--type", type_name, "file type: " + models::quant_preset_names() +
                                          " (iq1_*, iq2_*, iq3_xxs, iq3_xs and q2_k_s need "
                                          "--imatrix)")
      ->capture_default_str();
  std::string imatrix_path;
  app.add_option("--imatrix", imatrix_path,
                 "importance matrix (llama.cpp imatrix GGUF or legacy .dat) for the quantisers");
  app.add_option("--tensor-type", tensor_types,
                 "PATTERN=TYPE (repeatable): matrices whose GGUF name matches the regex PATTERN "
                 "are stored as TYPE (a ggml type: q4_k, q6_k, iq4_xs, q8_0, f16, ...); the first "
                 "match wins, before the preset's rules; only with a quantized --type, as "
                 "llama-quantize. E.g. --tensor-type 'ffn_.*_exps=q2_k' --tensor-type 'attn=q6_k'");
  app.add_flag("--pure", pure, "every matrix gets --type (no per-tensor rules; fallbacks still apply)");
  int threads = 0;
  add_threads_option_single(app, threads, "converting");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  auto preset = models::find_quant_preset(type_name);
  if (!preset.ok()) {
    std::fprintf(stderr, "r1 convert: %s\n", preset.message().c_str());
    return 2;
  }
  if (preset->needs_imatrix && imatrix_path.empty()) {
    std::fprintf(stderr, "r1 convert: --type %s needs an importance matrix (llama.cpp refuses it "
                 "without one): give --imatrix FILE (from r1 imatrix or llama-imatrix)\n",
                 type_name.c_str());
    return 2;
  }
  models::QuantOptions q(*preset);
  q.pure = pure;
  if (!imatrix_path.empty()) {
    auto im = models::read_imatrix(imatrix_path);
    if (!im.ok()) {
      std::fprintf(stderr, "r1 convert: %s\n", im.message().c_str());
      return 1;
    }
    q.imatrix = std::make_shared<const models::ImatrixValues>(im->values());
  }
  for (const auto& spec : tensor_types) {
    auto o = models::parse_tensor_type_override(spec);
    if (!o.ok()) {
      std::fprintf(stderr, "r1 convert: %s\n", o.message().c_str());
      return 2;
    }
    q.overrides.push_back(std::move(*o));
  }
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> notes;
  auto r = models::convert_to_gguf(model_dir, out_path, q, &notes);
  if (!r.ok()) {
    std::fprintf(stderr, "r1 convert: %s\n", r.message().c_str());
    return 1;
  }
  for (const auto& n : notes) std::fprintf(stderr, "r1 convert: note: %s\n", n.c_str());
  std::fprintf(stderr, "r1 convert: wrote %s (%s) in %.1f s\n", out_path.c_str(),
               preset->name.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

}  // namespace r1::cli
