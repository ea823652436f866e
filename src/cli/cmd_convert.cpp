// `r1 convert MODEL --out FILE.gguf --type q8_0`: a Hugging Face checkpoint (llama, qwen2, qwen3,
// deepseek_v2/deepseek_v3 as llama.cpp's deepseek2) to a GGUF file with llama.cpp's tensor names and metadata, loadable by llama.cpp and by r1.
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "models/convert.h"

namespace r1::cli {

int cmd_convert(int argc, char** argv) {
  CLI::App app{"Converts a Hugging Face model directory (llama, qwen2, qwen3, deepseek_v2/v3) to GGUF. "
               "Matrices are stored as --type (rows that are not whole 32-blocks fall back to "
               "f16); norms, biases and MoE routers stay f32. Llama Q/K rows are permuted and "
               "DeepSeek kv_b_proj is split into attn_k_b/attn_v_b as llama.cpp's converter does; "
               "DeepSeek-V3 MTP layers are skipped (llama.cpp has none).",
               "r1 convert"};
  std::string model_dir, out_path, type_name = "f16";
  app.add_option("model", model_dir, "Hugging Face model directory")->required();
  app.add_option("--out", out_path, "output .gguf file (written atomically)")->required();
  app.add_option("--type", type_name, "weight type: f32, f16, bf16, q8_0, q4_0")
      ->check(CLI::IsMember({"f32", "f16", "bf16", "q8_0", "q4_0"}))
      ->capture_default_str();
  int threads = 0;
  add_threads_option_single(app, threads, "converting");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  const DType type = type_name == "f32"    ? DType::F32
                     : type_name == "f16"  ? DType::F16
                     : type_name == "bf16" ? DType::BF16
                     : type_name == "q8_0" ? DType::Q8_0
                                           : DType::Q4_0;
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> notes;
  auto r = models::convert_to_gguf(model_dir, out_path, type, &notes);
  if (!r.ok()) {
    std::fprintf(stderr, "r1 convert: %s\n", r.message().c_str());
    return 1;
  }
  for (const auto& n : notes) std::fprintf(stderr, "r1 convert: note: %s\n", n.c_str());
  std::fprintf(stderr, "r1 convert: wrote %s (%s) in %.1f s\n", out_path.c_str(),
               type_name.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  return 0;
}

}  // namespace r1::cli
