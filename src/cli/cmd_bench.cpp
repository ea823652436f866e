// `r1 bench MODEL`: llama-bench's two standard tests on our engine, prefill of a 512-token random
// prompt (pp512) and decode of 128 tokens from an empty context (tg128), mean ± sd over reps after
// a warm-up run, plus decode against the memory-bandwidth ceiling: a dense decode step streams
// every weight once, so tokens/s can never exceed bandwidth / (weight bytes per token).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/load_flags.h"
#include "cli/commands.h"
#include "engine/sampler.h"

namespace r1::cli {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

struct Stats {
  double mean = 0.0, sd = 0.0;
};

// Sample mean and standard deviation (n-1), like llama-bench.
Stats stats_of(const std::vector<double>& xs) {
  Stats s;
  if (xs.empty()) return s;
  for (double x : xs) s.mean += x;
  s.mean /= static_cast<double>(xs.size());
  if (xs.size() > 1) {
    double v = 0.0;
    for (double x : xs) v += (x - s.mean) * (x - s.mean);
    s.sd = std::sqrt(v / static_cast<double>(xs.size() - 1));
  }
  return s;
}

// Read bandwidth in bytes/s: every thread of the pool sums its contiguous slice of a buffer much
// larger than the caches (8 independent accumulators keep the loads in flight); best of `reps`.
double measure_read_bandwidth(ThreadPool& pool, size_t bytes, int reps) {
  const size_t n = bytes / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
  // Touch every page (and make the contents non-trivial) before timing.
  pool.parallel_for(static_cast<int64_t>(n), 1 << 16, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) buf[i] = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ull;
  });
  std::vector<uint64_t> sinks(pool.size() * 8, 0);
  double best = 0.0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = Clock::now();
    pool.run_on_all([&](int t, int nt) {
      const size_t begin = n * t / nt, end = n * (t + 1) / nt;
      const uint64_t* p = buf.data();
      uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0;
      size_t i = begin;
      for (; i + 8 <= end; i += 8) {
        a0 += p[i];
        a1 += p[i + 1];
        a2 += p[i + 2];
        a3 += p[i + 3];
        a4 += p[i + 4];
        a5 += p[i + 5];
        a6 += p[i + 6];
        a7 += p[i + 7];
      }
      for (; i < end; ++i) a0 += p[i];
      sinks[t * 8] = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7;  // keeps the loop from being elided
    });
    const double s = seconds_since(t0);
    best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s);
  }
  volatile uint64_t keep = 0;
  for (auto x : sinks) keep = keep + x;
  return best;
}

uint64_t path_bytes(const std::string& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return fs::file_size(path, ec);
  uint64_t total = 0;
  for (const auto& e : fs::directory_iterator(path, ec)) {
    const auto ext = e.path().extension();
    if (e.is_regular_file() && (ext == ".safetensors" || ext == ".gguf")) total += e.file_size();
  }
  return total;
}

}  // namespace

int cmd_bench(int argc, char** argv) {
  CLI::App app{
      "Benchmark a model like llama-bench: prefill of a random prompt (ppP) and decode of N tokens "
      "(tgN), mean ± sd tokens/s over reps after one warm-up, and decode as a fraction of the "
      "memory-bandwidth ceiling (weight bytes per token / measured read bandwidth).",
      "bench"};
  std::string model_path;
  int threads = default_threads();
  int64_t n_prompt = 512;
  int64_t n_gen = 128;
  int reps = 5;
  int64_t bw_mib = 1024;
  bool json = false;
  app.add_option("MODEL", model_path, "model: a Hugging Face directory or a .gguf file");
  app.add_option("-t,--threads", threads, "threads (default: physical cores)")
      ->capture_default_str()
      ->check(number_at_least(1));
  app.add_option("-p,--n-prompt", n_prompt, "prompt tokens of the prefill test; 0 skips it")
      ->capture_default_str()
      ->check(number_at_least(0));
  app.add_option("-n,--n-gen", n_gen, "tokens of the decode test; 0 skips it")
      ->capture_default_str()
      ->check(number_at_least(0));
  app.add_option("-r,--reps", reps, "timed repetitions of each test")
      ->capture_default_str()
      ->check(number_at_least(1));
  app.add_option("--bw-mib", bw_mib, "buffer of the bandwidth measurement in MiB; 0 skips it")
      ->capture_default_str()
      ->check(number_at_least(0));
  app.add_flag("--json", json, "print the results as one JSON object instead of a table");
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (model_path.empty()) {
    std::fprintf(stderr,
                 "r1 bench: a model path is required (a Hugging Face directory or a .gguf file)\n");
    return 2;
  }

  auto loaded = load_model_and_tokenizer(model_path, threads, /*with_tokenizer=*/false);
  if (!loaded.ok()) {
    std::fprintf(stderr, "r1 bench: %s\n", loaded.message().c_str());
    return 1;
  }
  LoadedModel& lm = loaded.value();
  models::CausalLM& model = *lm.model;
  const auto& info = model.info();
  const int64_t V = info.vocab_size;
  const int64_t model_ctx = info.max_position_embeddings;
  if (model_ctx > 0 && std::max(n_prompt, n_gen) > model_ctx) {
    std::fprintf(stderr, "r1 bench: the tests need %lld positions but the model's context is %lld\n",
                 static_cast<long long>(std::max(n_prompt, n_gen)),
                 static_cast<long long>(model_ctx));
    return 2;
  }

  engine::Rng rng(1234);
  auto random_tokens = [&](int64_t n) {
    std::vector<int32_t> ids(n);
    for (auto& id : ids) id = static_cast<int32_t>(rng.next_u64() % static_cast<uint64_t>(V));
    return ids;
  };
  std::vector<float> logits(V);

  // One run of each test; returns tokens/s. The first (warm-up) result is discarded.
  auto run_pp = [&]() {
    const auto ids = random_tokens(n_prompt);
    auto session = model.new_session(n_prompt);
    const auto t0 = Clock::now();
    model.forward(ids, *session, logits.data(), false);
    return static_cast<double>(n_prompt) / seconds_since(t0);
  };
  auto run_tg = [&]() {
    const auto ids = random_tokens(n_gen);
    auto session = model.new_session(n_gen);
    const auto t0 = Clock::now();
    for (int64_t i = 0; i < n_gen; ++i) {
      model.forward(std::span<const int32_t>(&ids[i], 1), *session, logits.data(), false);
    }
    return static_cast<double>(n_gen) / seconds_since(t0);
  };
  struct Test {
    std::string name;
    Stats tps;
  };
  std::vector<Test> tests;
  for (int which = 0; which < 2; ++which) {
    const int64_t n = which == 0 ? n_prompt : n_gen;
    if (n == 0) continue;
    const std::string name = fmt::format("{}{}", which == 0 ? "pp" : "tg", n);
    std::fprintf(stderr, "r1 bench: %s: warm-up + %d reps...\n", name.c_str(), reps);
    auto run = [&]() { return which == 0 ? run_pp() : run_tg(); };
    run();
    std::vector<double> xs;
    for (int r = 0; r < reps; ++r) xs.push_back(run());
    tests.push_back({name, stats_of(xs)});
  }

  double bw = 0.0;
  if (bw_mib > 0) {
    std::fprintf(stderr, "r1 bench: measuring read bandwidth (%lld MiB, %d threads)...\n",
                 static_cast<long long>(bw_mib), lm.pool->size());
    bw = measure_read_bandwidth(*lm.pool, static_cast<size_t>(bw_mib) << 20, 5);
  }
  const double bytes_per_token = static_cast<double>(info.weight_bytes_per_token);
  const double ceiling = bw > 0.0 && bytes_per_token > 0.0 ? bw / bytes_per_token : 0.0;
  const uint64_t size_bytes = path_bytes(lm.model->info().path.empty() ? model_path : info.path);

  if (json) {
    nlohmann::json j = {{"model", info.name},
                        {"arch", info.arch},
                        {"size_bytes", size_bytes},
                        {"n_params", info.n_params},
                        {"weight_bytes_per_token", info.weight_bytes_per_token},
                        {"threads", lm.pool->size()},
                        {"reps", reps},
                        {"bandwidth_gb_s", bw / 1e9},
                        {"decode_ceiling_tok_s", ceiling}};
    for (const auto& t : tests) {
      j["tests"].push_back({{"test", t.name}, {"tok_s_mean", t.tps.mean}, {"tok_s_sd", t.tps.sd}});
      if (t.name.rfind("tg", 0) == 0 && ceiling > 0.0) j["decode_fraction_of_ceiling"] = t.tps.mean / ceiling;
    }
    std::printf("%s\n", j.dump(1).c_str());
    return 0;
  }
  std::printf("| %-24s | %10s | %8s | %7s | %6s | %18s |\n", "model", "size", "params", "threads",
              "test", "t/s");
  std::printf("| %-24s | %10s | %8s | %7s | %6s | %18s |\n", "------------------------",
              "---------:", "-------:", "------:", "-----:", "-----------------:");
  for (const auto& t : tests) {
    std::printf("| %-24s | %10s | %7.2fM | %7d | %6s | %18s |\n", info.name.c_str(),
                human_bytes(static_cast<double>(size_bytes)).c_str(),
                static_cast<double>(info.n_params) / 1e6, lm.pool->size(), t.name.c_str(),
                fmt::format("{:.2f} ± {:.2f}", t.tps.mean, t.tps.sd).c_str());
  }
  if (bw > 0.0) {
    std::printf("\nread bandwidth: %.2f GB/s (%d threads, best of 5 over %lld MiB)\n", bw / 1e9,
                lm.pool->size(), static_cast<long long>(bw_mib));
    std::printf("weights read per token: %s -> decode ceiling %.2f tok/s\n",
                human_bytes(bytes_per_token).c_str(), ceiling);
    for (const auto& t : tests) {
      if (t.name.rfind("tg", 0) == 0 && ceiling > 0.0)
        std::printf("%s: %.1f%% of the bandwidth ceiling\n", t.name.c_str(),
                    100.0 * t.tps.mean / ceiling);
    }
  }
  return 0;
}

}  // namespace r1::cli
