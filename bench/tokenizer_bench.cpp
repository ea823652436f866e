// Tokenizer throughput (single thread) on a mixed corpus built from the shared data: the MATH-500
// and GSM8K problems/solutions (English, LaTeX, numbers), plus multilingual and code lines, in a
// fixed shuffled order. Reports MB/s of UTF-8 input. "cold" counters time the first pass (empty
// word cache); the benchmark loop itself runs warm, as a long-lived server does.
//   build-x/tokenizer_bench --benchmark_filter=Encode
// Needs ../shared (R1_SHARED); without it the benchmarks report an error and skip.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace {

// $R1_SHARED, else the first of ../shared and ../../shared that exists (run from the repo root
// or from a build directory inside it).
std::string shared_dir() {
  if (const char* s = std::getenv("R1_SHARED"); s && *s) return s;
  for (const char* c : {"../shared", "../../shared"}) {
    if (std::filesystem::is_directory(c)) return c;
  }
  return "../shared";
}

const std::vector<std::string>& corpus() {
  static const std::vector<std::string> docs = [] {
    std::vector<std::string> d;
    const std::string root = shared_dir() + "/data/";
    for (const char* file : {"math500/test.jsonl", "gsm8k/test.jsonl", "aime2024/test.jsonl"}) {
      std::ifstream f(root + file);
      std::string line;
      while (std::getline(f, line)) {
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (!j.is_object()) continue;
        for (const char* key : {"problem", "solution", "question", "answer"}) {
          if (j.contains(key) && j[key].is_string()) d.push_back(j[key].get<std::string>());
        }
      }
    }
    const char* extra[] = {
        "中文测试：你好，世界！日本語のテキスト、カタカナ。한국어 텍스트 입니다.",
        "مرحبا بالعالم، هذا نص عربي مع أرقام ١٢٣ و كلمات أخرى.",
        "नमस्ते दुनिया, यह हिंदी पाठ है। Emoji: 👨‍👩‍👧‍👦 🏳️‍🌈 👍🏽",
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n\n\tprint(fib(30))",
        "<|im_start|>user\nSolve x^2 = 4.<|im_end|>\n<|im_start|>assistant\n<think>\nx = ±2\n</think>",
    };
    for (int rep = 0; rep < 200; ++rep) {
      for (const char* e : extra) d.emplace_back(e);
    }
    std::mt19937 rng(1234);
    std::shuffle(d.begin(), d.end(), rng);
    return d;
  }();
  return docs;
}

size_t corpus_bytes() {
  size_t n = 0;
  for (const auto& s : corpus()) n += s.size();
  return n;
}

struct Loaded {
  std::unique_ptr<r1::tok::Tokenizer> tok;
  double load_s = 0;     // tokenizer.json parse and table building (process CPU seconds)
  double cold_s = 0;     // first encode pass over the corpus, empty word cache (CPU seconds)
  size_t n_tokens = 0;
};

// Loads each tokenizer once per process and times its first (cold-cache) pass.
const Loaded* load(const std::string& name) {
  static std::map<std::string, Loaded> cache;
  auto it = cache.find(name);
  if (it != cache.end()) return &it->second;
  // CPU time, not wall time: the numbers stay meaningful on a busy machine (single thread).
  const std::clock_t t0 = std::clock();
  auto t = r1::tok::Tokenizer::from_path(shared_dir() + "/tokenizers/" + name);
  if (!t.ok() || corpus().empty()) return nullptr;
  Loaded& l = cache[name];
  l.tok = std::move(t).value();
  const std::clock_t t1 = std::clock();
  for (const auto& d : corpus()) l.n_tokens += l.tok->encode(d).size();
  const std::clock_t t2 = std::clock();
  l.load_s = static_cast<double>(t1 - t0) / CLOCKS_PER_SEC;
  l.cold_s = static_cast<double>(t2 - t1) / CLOCKS_PER_SEC;
  return &l;
}

void BM_Encode(benchmark::State& state, const std::string& name) {
  const Loaded* l = load(name);
  if (l == nullptr) {
    state.SkipWithError("shared tokenizers/data not found (set R1_SHARED)");
    return;
  }
  for (auto _ : state) {
    for (const auto& d : corpus()) benchmark::DoNotOptimize(l->tok->encode(d));
  }
  const double bytes = static_cast<double>(corpus_bytes());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(l->n_tokens * state.iterations()), benchmark::Counter::kIsRate);
  state.counters["cold_MB/s"] = bytes / 1e6 / l->cold_s;
  state.counters["corpus_MB"] = bytes / 1e6;
  state.counters["n_tokens"] = static_cast<double>(l->n_tokens);
  state.counters["load_s"] = l->load_s;
}

void BM_Decode(benchmark::State& state, const std::string& name) {
  const Loaded* l = load(name);
  if (l == nullptr) {
    state.SkipWithError("shared tokenizers/data not found (set R1_SHARED)");
    return;
  }
  const r1::tok::Tokenizer* tok = l->tok.get();
  std::vector<std::vector<int32_t>> ids;
  size_t n_tokens = 0;
  for (const auto& d : corpus()) {
    ids.push_back(tok->encode(d));
    n_tokens += ids.back().size();
  }
  for (auto _ : state) {
    for (const auto& v : ids) benchmark::DoNotOptimize(tok->decode(v));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * corpus_bytes()));
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(n_tokens * state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK_CAPTURE(BM_Encode, qwen2_5, std::string("qwen2_5"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, deepseek_v3, std::string("deepseek_v3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, qwen2_5, std::string("qwen2_5"))->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
