// Training throughput (forward + backward + clip + AdamW) of the Llama-style model that
// ../shared/bench/torch/train_step.py times in PyTorch: dim 384, 6 layers, 6 heads, vocab 4096,
// sequence 256, batch 8, SwiGLU ffn 1088, untied head (14.2M parameters). Reports tokens/s and
// GFLOP/s by the 6N rule. Threads: R1_THREADS (default 2, like the PyTorch baseline).
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include <nlohmann/json.hpp>

#include "train/lm.h"
#include "train/optim.h"

namespace {

void BM_TrainStepLlama14M(benchmark::State& state) {
  const char* te = std::getenv("R1_THREADS");
  const int threads = te ? std::atoi(te) : 2;
  openblas_set_num_threads(threads);
  r1::ThreadPool pool(threads);
  const int64_t B = 8, T = 256, V = 4096;
  nlohmann::json cfg = {{"model_type", "llama"},       {"vocab_size", V},
                        {"hidden_size", 384},          {"intermediate_size", 1088},
                        {"num_hidden_layers", 6},      {"num_attention_heads", 6},
                        {"num_key_value_heads", 6},    {"rms_norm_eps", 1e-6},
                        {"rope_theta", 10000.0},       {"max_position_embeddings", 256},
                        {"tie_word_embeddings", false}};
  const std::string scratch =
      (std::filesystem::temp_directory_path() / ("r1-train-bench-" + std::to_string(getpid())))
          .string();
  auto m = r1::train::TrainLM::init(cfg, "bench", 0, scratch, pool);
  std::filesystem::remove_all(scratch);
  if (!m.ok()) {
    state.SkipWithError(m.message().c_str());
    return;
  }
  r1::train::AdamW opt((*m)->params(), {});
  std::mt19937 rng(0);
  std::vector<std::vector<int32_t>> data(size_t(B), std::vector<int32_t>(size_t(T + 1)));
  for (auto& s : data)
    for (auto& t : s) t = int32_t(rng() % uint32_t(V));
  std::vector<int32_t> bin, btgt;
  for (const auto& s : data) {
    bin.insert(bin.end(), s.begin(), s.begin() + T);
    btgt.insert(btgt.end(), s.begin() + 1, s.end());
  }
  const bool batched = state.range(0) != 0;
  double loss = 0;
  for (auto _ : state) {
    (*m)->zero_grad();
    loss = 0;
    if (batched) {  // the B rows through one forward (what r1 pretrain runs)
      int64_t n = 0;
      loss += (*m)->forward_backward_batch(bin, btgt, B, 1.0f / float(B * T), &n);
    } else {
      for (const auto& s : data) {
        std::span<const int32_t> in(s.data(), size_t(T)), tgt(s.data() + 1, size_t(T));
        int64_t n = 0;
        loss += (*m)->forward_backward(in, tgt, 1.0f / float(B * T), &n);
      }
    }
    r1::train::clip_grad_norm((*m)->params(), 1.0);
    opt.step((*m)->params(), 3e-4);
  }
  const double tokens = double(B * T) * double(state.iterations());
  state.counters["tokens_per_s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
  state.counters["GFLOPs_6N"] = benchmark::Counter(
      6.0 * double((*m)->n_params()) * tokens / 1e9, benchmark::Counter::kIsRate);
  state.counters["params_M"] = double((*m)->n_params()) / 1e6;
  state.counters["loss"] = loss / double(B * T);
}
// Arg 0: one forward_backward per sequence; arg 1: forward_backward_batch over the B rows.
BENCHMARK(BM_TrainStepLlama14M)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(4);

}  // namespace

BENCHMARK_MAIN();
