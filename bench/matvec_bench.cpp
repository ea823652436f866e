// Matmul micro-benchmarks on R1-Distill-Qwen-1.5B shapes (hidden 1536, ffn 8960):
//  - decode matvec (T = 1): GB/s of weights read, to compare with the machine's memory
//    bandwidth (scripts/bench.sh prints membw next to it). Enough weight copies rotate to
//    exceed the L3 cache, so each call streams from DRAM.
//  - prefill (T = 512): GFLOP/s (2 * T * N * K per call).
// Args: dtype, threads, [path]; path 0 = Auto, 1 = Generic (Highway), 2 = Vnni.
// Memory bandwidth next to it: env R1_MEMBW_READ_GBPS="1=27.5,2=38.0" (threads=read GB/s, as
// ../shared/bench/membw measures; scripts/bench.sh sets it) adds, to each DRAM-streaming matvec
// row, membw_GB/s (the machine's read bandwidth at that thread count) and %membw (the weight
// bytes read per second as a share of it).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/matmul.h"
#include "kernels/matmul_detail.h"
#include "quant/quantize.h"

namespace {

using r1::DType;
using r1::kernels::WeightView;

constexpr DType kTypes[] = {DType::F32, DType::BF16, DType::F16, DType::Q8_0, DType::Q4_0};

struct WeightSet {
  std::vector<std::vector<uint8_t>> copies;
  std::vector<WeightView> views;
  size_t bytes_each = 0;
};

// Enough copies of an [N, K] weight to exceed `min_total` bytes (cache-cold streaming).
WeightSet make_set(DType dt, int64_t N, int64_t K, size_t min_total) {
  WeightSet s;
  const size_t rb = size_t(r1::dtype_bytes(dt, K));
  s.bytes_each = rb * size_t(N);
  const size_t n_copies = std::max<size_t>(1, (min_total + s.bytes_each - 1) / s.bytes_each);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd;
  std::vector<float> row(static_cast<size_t>(K));
  s.copies.resize(n_copies);
  for (auto& c : s.copies) {
    if (&c == &s.copies[0]) {
      c.resize(s.bytes_each);
      for (int64_t n = 0; n < N; ++n) {
        for (auto& v : row) v = nd(rng);
        r1::quant::quantize_row(dt, row.data(), c.data() + size_t(n) * rb, K);
      }
    } else {
      c = s.copies[0];  // same values, different addresses: enough to defeat the caches
    }
    WeightView v;
    v.dtype = dt;
    v.data = c.data();
    v.n = N;
    v.k = K;
    v.row_bytes = rb;
    s.views.push_back(v);
  }
  return s;
}

// Read bandwidth in GB/s by thread count, from R1_MEMBW_READ_GBPS ("1=27.5,2=38.0"); empty when
// unset or unparsable.
const std::map<int64_t, double>& membw_read_gbps() {
  static const std::map<int64_t, double> table = [] {
    std::map<int64_t, double> t;
    const char* env = std::getenv("R1_MEMBW_READ_GBPS");
    std::string s = env ? env : "";
    size_t pos = 0;
    while (pos < s.size()) {
      size_t end = s.find(',', pos);
      if (end == std::string::npos) end = s.size();
      const std::string item = s.substr(pos, end - pos);
      const size_t eq = item.find('=');
      if (eq != std::string::npos) {
        char* stop = nullptr;
        const long th = std::strtol(item.c_str(), &stop, 10);
        const double gbps = std::strtod(item.c_str() + eq + 1, nullptr);
        if (stop == item.c_str() + eq && th > 0 && gbps > 0) t[th] = gbps;
      }
      pos = end + 1;
    }
    return t;
  }();
  return table;
}

r1::kernels::detail::MatmulPath path_arg(const benchmark::State& st) {
  return st.range(3) == 1   ? r1::kernels::detail::MatmulPath::Generic
         : st.range(3) == 2 ? r1::kernels::detail::MatmulPath::Vnni
                            : r1::kernels::detail::MatmulPath::Auto;
}

// range(0): dtype index, range(1): threads, range(2): shape (0: [8960, 1536], 1: [1536, 8960],
// 2: [256, 1536] cache-resident),
// range(3): path.
void BM_Matvec(benchmark::State& st) {
  const DType dt = kTypes[st.range(0)];
  // Shape 2: a 256 x 1536 weight that stays in L2 — the kernel's compute ceiling, not DRAM's.
  const int64_t N = st.range(2) == 0 ? 8960 : st.range(2) == 1 ? 1536 : 256;
  const int64_t K = st.range(2) == 0 ? 1536 : st.range(2) == 1 ? 8960 : 1536;
  const auto path = path_arg(st);
  if (path == r1::kernels::detail::MatmulPath::Vnni && !r1::kernels::detail::vnni_available()) {
    st.SkipWithError("no AVX512-VNNI");
    return;
  }
  r1::ThreadPool pool(int(st.range(1)));
  auto set = make_set(dt, N, K, st.range(2) == 2 ? 0 : size_t(128) << 20);
  std::vector<float> x(static_cast<size_t>(K), 0.5f), y(static_cast<size_t>(N));
  size_t i = 0;
  for (auto _ : st) {
    r1::kernels::detail::matmul_path(set.views[i], x.data(), y.data(), 1, pool, path);
    i = (i + 1) % set.views.size();
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GB/s"] = benchmark::Counter(double(set.bytes_each),
                                           benchmark::Counter::kIsIterationInvariantRate,
                                           benchmark::Counter::kIs1000);
  const auto& bw = membw_read_gbps();
  if (auto it = bw.find(st.range(1)); it != bw.end() && st.range(2) != 2) {
    st.counters["membw_GB/s"] = it->second;
    // Bytes per second * 100 / (GB/s * 1e9): the share of the DRAM read bandwidth, in percent.
    st.counters["%membw"] = benchmark::Counter(double(set.bytes_each) * 100 / (it->second * 1e9),
                                               benchmark::Counter::kIsIterationInvariantRate);
  }
  st.SetLabel(std::string(r1::dtype_name(dt)));
}

void BM_Prefill(benchmark::State& st) {
  const DType dt = kTypes[st.range(0)];
  const int64_t N = st.range(2) == 0 ? 8960 : 1536, K = st.range(2) == 0 ? 1536 : 8960, T = 512;
  const auto path = path_arg(st);
  if (path == r1::kernels::detail::MatmulPath::Vnni && !r1::kernels::detail::vnni_available()) {
    st.SkipWithError("no AVX512-VNNI");
    return;
  }
  r1::ThreadPool pool(int(st.range(1)));
  auto set = make_set(dt, N, K, 0);
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(T * K)), y(size_t(T * N));
  for (auto& v : x) v = nd(rng);
  for (auto _ : st) {
    r1::kernels::detail::matmul_path(set.views[0], x.data(), y.data(), T, pool, path);
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["GFLOP/s"] = benchmark::Counter(2.0 * double(T * N * K),
                                              benchmark::Counter::kIsIterationInvariantRate,
                                              benchmark::Counter::kIs1000);
  st.counters["GFLOP/s"].value /= 1e9;
  st.SetLabel(std::string(r1::dtype_name(dt)));
}

void MatvecArgs(benchmark::internal::Benchmark* b) {
  for (int64_t dt = 0; dt < 5; ++dt)
    for (int64_t th : {1, 2})
      for (int64_t shape : {0, 1}) b->Args({dt, th, shape, 0});
  for (int64_t dt : {3, 4}) b->Args({dt, 2, 0, 1});  // the portable Highway path, for comparison
  for (int64_t dt = 0; dt < 5; ++dt) b->Args({dt, 1, 2, 0});
  for (int64_t dt : {3, 4}) b->Args({dt, 1, 2, 1});
}

void PrefillArgs(benchmark::internal::Benchmark* b) {
  for (int64_t dt : {0, 1, 3, 4})
    for (int64_t th : {1, 2}) b->Args({dt, th, 0, 0});
  for (int64_t dt : {3, 4}) b->Args({dt, 2, 0, 1});
}

}  // namespace

BENCHMARK(BM_Matvec)->Apply(MatvecArgs)->ArgNames({"dtype", "threads", "shape", "path"})
    ->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Prefill)->Apply(PrefillArgs)->ArgNames({"dtype", "threads", "shape", "path"})
    ->UseRealTime()->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
