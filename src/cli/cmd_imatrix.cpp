// `r1 imatrix MODEL.gguf --data FILE --out imatrix.gguf [--ctx N] [--chunks N]`: the importance
// matrix of a model over a text, as llama.cpp's llama-imatrix computes it (tools/imatrix of
// llama.cpp commit 80fb11ac): the text's tokens (BOS first when the tokenizer adds one) are cut
// into chunks of --ctx tokens, each chunk's first token replaced by BOS and run in one context;
// every product of a transformer-block weight adds each input column's squared value (per expert
// for MoE expert tensors). Written in llama.cpp's imatrix GGUF layout
// (models/convert_quant_imatrix.h): r1 convert --imatrix and llama-quantize --imatrix read it.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/load_flags.h"
#include "eval/imatrix_collector.h"
#include "eval/perplexity.h"
#include "models/convert_quant_imatrix.h"
#include "models/model.h"
#include "models/tensor_source.h"

namespace r1::cli {
namespace {

int fail(const std::string& msg, int rc = 1) {
  std::fprintf(stderr, "r1 imatrix: %s\n", msg.c_str());
  return rc;
}

}  // namespace

int cmd_imatrix(int argc, char** argv) {
  CLI::App app{
      "Importance matrix of a GGUF model over a text, as llama-imatrix computes it: the mean "
      "squared input of every column of every transformer-block weight (per expert for MoE "
      "expert tensors), over chunks of --ctx tokens that each start with BOS. Written in "
      "llama.cpp's imatrix GGUF layout, for r1 convert --imatrix or llama-quantize --imatrix. "
      "The model must be a .gguf file (r1 convert MODEL --type f16 makes one from a Hugging Face "
      "directory); its weight names are those the imatrix records.",
      "r1 imatrix"};
  std::string model_path, data_path, out_path;
  int64_t ctx = 512, chunks = 0;
  int threads = default_threads();
  app.add_option("model", model_path, "model: a .gguf file")->required();
  app.add_option("--data", data_path, "text file to run the model over")->required();
  app.add_option("--out", out_path, "output imatrix .gguf (written atomically)")->required();
  app.add_option("--ctx", ctx, "tokens per chunk")->check(number_at_least(2))->capture_default_str();
  app.add_option("--chunks", chunks, "use at most this many chunks (default: all)")
      ->check(number_at_least(0));
  app.add_option("--threads", threads, "threads")->check(number_at_least(1))->capture_default_str();
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  std::error_code ec;
  if (!std::filesystem::is_regular_file(data_path, ec))
    return fail("--data " + data_path + ": no such file", 2);
  std::ifstream in(data_path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (!in) return fail("--data " + data_path + ": cannot read");
  const std::string text = ss.str();

  eval::ImatrixCollector collector;
  models::set_gguf_load_observer(
      [&](const std::string& name, const Tensor& t) { collector.add_weight(name, t); });
  auto loaded = load_model_and_tokenizer(model_path, threads, /*with_tokenizer=*/true);
  models::set_gguf_load_observer(nullptr);
  if (!loaded.ok()) return fail(loaded.message());
  if (collector.n_weights() == 0)
    return fail(loaded->path + ": no GGUF block weights were loaded: r1 imatrix needs a .gguf "
                "model (r1 convert MODEL --out M.gguf --type f16)", 2);
  models::CausalLM& m = *loaded->model;
  const int64_t V = m.info().vocab_size, model_ctx = m.info().max_position_embeddings;
  if (model_ctx > 0 && ctx > model_ctx)
    return fail("--ctx " + std::to_string(ctx) + " is larger than the model's context length " +
                std::to_string(model_ctx), 2);

  const tok::Tokenizer& tk = *loaded->tokenizer;
  const int32_t bos = tk.bos_id() >= 0 && tk.add_bos_default() ? tk.bos_id() : -1;
  const std::vector<int32_t> ids = tk.encode(text, bos >= 0, /*parse_special=*/false);
  for (int32_t id : ids)
    if (id >= V)
      return fail("--data " + data_path + ": token id " + std::to_string(id) +
                  " is outside the model's vocabulary (tokenizer and model disagree)");
  // Every chunk counts (llama-imatrix collects over all positions), so plan_chunks' scoring
  // offset is not used here.
  auto plan = eval::plan_chunks(int64_t(ids.size()), ctx, chunks);
  if (!plan.ok()) return fail("--data " + data_path + ": " + plan.message(), 2);
  const std::vector<int32_t> tokens = eval::chunk_tokens(ids, *plan, bos);
  std::fprintf(stderr, "r1 imatrix: %s: %lld chunks of %lld tokens, %zu weights tracked\n",
               loaded->path.c_str(), (long long)plan->n_chunk, (long long)ctx, collector.n_weights());

  std::vector<float> logits(static_cast<size_t>(V));
  const auto t0 = std::chrono::steady_clock::now();
  collector.start();
  for (int64_t c = 0; c < plan->n_chunk; ++c) {
    auto session = m.new_session(ctx);
    m.forward(std::span<const int32_t>(tokens.data() + c * ctx, size_t(ctx)), *session,
              logits.data(), /*all_logits=*/false);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::fprintf(stderr, "[%lld/%lld] %.1f s\n", (long long)(c + 1), (long long)plan->n_chunk, s);
  }
  collector.stop();
  const models::Imatrix im = collector.result({data_path}, uint32_t(plan->n_chunk), uint32_t(ctx));
  if (auto w = models::write_imatrix_gguf(im, out_path); !w.ok()) return fail(w.message());
  std::fprintf(stderr, "r1 imatrix: wrote %s (%zu entries, %lld chunks of %lld tokens)\n",
               out_path.c_str(), im.entries.size(), (long long)plan->n_chunk, (long long)ctx);
  return 0;
}

}  // namespace r1::cli
