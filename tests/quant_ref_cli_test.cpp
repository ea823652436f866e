// r1 against llama.cpp on GGUF files quantised by llama.cpp's own quantizer: for each type
// (--pure: every 2-D weight in that type) and each per-tensor preset (_S/_M/_L), on tiny
// random-weight qwen2 and deepseek2 models (dims multiples of 256 so the K-quants apply; 3-D
// expert tensors in the deepseek2 one) and on stories260K (llama; dim 64, so llama.cpp falls
// back to Q5_0/Q5_1/IQ4_NL/Q8_0 for the K-quant rows, which tests those and the mixes).
//
// Checks per file: r1's greedy 32 tokens equal llama_oracle's, and r1's logits match the
// oracle's on the prompt (T < 8: r1's integer decode kernels) and on prompt + generated tokens
// (T >= 8: r1's prefill path, dequantised rows + sgemm). Tolerances: kDecodeTol, kPrefillTol.
//
// Needs llama.cpp's oracle and quantizer (~/r1-peers/llamacpp/llama_oracle, llama_quantize, or
// $R1_LLAMA_ORACLE / $R1_LLAMA_QUANTIZE), built by ../shared/bench/llamacpp/build_oracle.sh after
// `npm i node-llama-cpp@3.21.1` (../shared/bench/README.md, "Setup"), and /usr/bin/python3 with
// numpy for the model generators in ../shared/bench/gguf. Without them the tests skip and say so.
// Generated files are cached in $R1_QUANT_REF_DIR (default: quant_ref/ next to the r1 binary).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "cli_util.h"
#include "oracle_util.h"
#include "core/test_util.h"
#include "models/npy.h"

namespace {

using namespace r1::test::cli;
using namespace r1::test::oracle;
namespace fs = std::filesystem;

// Largest |r1 - llama.cpp| allowed for any logit, relative to the largest |logit| of that row.
// The oracle runs with an F32 KV cache, as r1 does (its default F16 cache alone moves logits by
// about 3e-4 of max|logit| on these models). Both engines compute with the same quantised
// weights; they differ only in how activations are rounded:
//  - T < 8 (r1's decode kernels): r1 quantises activations exactly as llama.cpp does (Q8_K /
//    Q8_0 / Q8_1, same algorithm) and sums the same integers, so only the f32 summation order
//    differs: measured 2e-7 (Q5_0), 4e-6 (Q4_K) of max|logit| on qwen2. Q4_1 and Q5_1 (Q8_1
//    activations) differ more, 1.1e-3 and 5.8e-3, not yet explained (ggml's Q8_1 s and dot
//    formula are the ones used here). kDecodeTol = 1e-2 covers them and is still 1.5-4x below
//    the prefill differences that f32 activations alone cause.
//  - T >= 8 (r1's prefill: dequantised weights x f32 activations via sgemm): llama.cpp rounds
//    each activation to 1/254 of its block's max, r1 does not. A relative perturbation e of a
//    matmul input moves its output by about e; through 2L + 1 matmuls on the residual path the
//    logit error grows to roughly sqrt(2L + 1) * e * (block max / rms ~ 3) * max|logit|, about
//    2.2 * 0.004 * 3 ~ 2.6% for 2 layers (measured: 1.4-2.0% on qwen2 Q4_K). kPrefillTol = 4%.
// stories260K (llama, head_dim 8) is the exception: r1 and llama.cpp already differ by about 1%
// of max|logit| from the second position on with Q8_0 weights (a path older than these types),
// while position 0 agrees to 5e-8 with Q5_0 weights, so the matmuls agree and the difference is
// elsewhere (attention; not yet explained). llama files are held to kPrefillTol at every T.
// In deepseek2 at T >= 8 that ~2% can flip a token's top-k expert choice (a discontinuity):
// measured, one of 36 rows differs by 0.37 while its neighbours stay at 2-4%. So the prefill
// check holds the median row to kPrefillTol and reports the worst; the exact checks are the
// decode rows (kDecodeTol, every row) and the greedy tokens.
// Every test prints its measured values.
constexpr double kDecodeTol = 1e-2;
constexpr double kPrefillTol = 0.04;

std::string cache_dir() {
  const std::string d = env_or("R1_QUANT_REF_DIR", (fs::path(r1_bin()).parent_path() / "quant_ref").string());
  fs::create_directories(d);
  return d;
}

// Skips (tagged for scripts/skip_guard.sh) when a prerequisite is absent.
#define QUANT_REF_SKIP_UNLESS_READY()    \
  do {                                   \
    R1_SKIP_UNLESS_ORACLE();             \
    R1_SKIP_UNLESS_SHARED("bench/gguf"); \
    R1_SKIP_UNLESS_NUMPY();              \
  } while (0)

// Runs `cmd` writing `out` through a temporary name, so concurrent tests never see half a file.
bool make_file(const std::string& out, const std::string& cmd_with_tmp_placeholder) {
  if (fs::exists(out)) return true;
  const std::string tmp = out + ".tmp." + std::to_string(::getpid());
  std::string cmd = cmd_with_tmp_placeholder;
  cmd.replace(cmd.find("@TMP@"), 5, quote(tmp));
  if (sh(cmd + " >/dev/null 2>&1") != 0) return false;
  fs::rename(tmp, out);
  return true;
}

// The F32 source model of `arch`; "" when it cannot be made.
std::string f32_model(const std::string& arch) {
  const std::string py = "/usr/bin/python3 ";
  const std::string gguf = shared_root() + "/bench/gguf/";
  if (arch == "llama") return shared_root() + "/models/stories260K/stories260K.gguf";
  const std::string out = cache_dir() + "/" + arch + "-f32.gguf";
  std::string cmd;
  if (arch == "qwen2")
    cmd = py + quote(gguf + "make_qwen2_random.py") + " --tokenizer " +
          quote(shared_root() + "/tokenizers/r1_distill_qwen/tokenizer.json") +
          " --type F32 --layers 2 --hidden 256 --ffn 512 --heads 4 --kv-heads 2 --fanin "
          "--out-gain 4 -o @TMP@";
  else  // deepseek2: q/kv LoRA ranks, v_head * heads and the expert FFN all 256 wide
    cmd = py + quote(gguf + "make_deepseek2_tiny.py") + " --tokenizer " +
          quote(shared_root() + "/tokenizers/deepseek_v3/tokenizer.json") +
          " --type F32 --layers 2 --dense-layers 1 --q-lora 256 --kv-lora 256 --v-head 64 "
          "--moe-ffn 256 --ffn 512 -o @TMP@";
  return make_file(out, cmd) ? out : "";
}

std::string quantized(const std::string& arch, const std::string& type, bool pure) {
  const std::string src = f32_model(arch);
  if (src.empty()) return "";
  const std::string out = cache_dir() + "/" + arch + "-" + type + (pure ? "-pure" : "") + ".gguf";
  const std::string cmd = quote(llama_quantize()) + " " + quote(src) + " @TMP@ " + type + (pure ? " --pure" : "") + " -t 2";
  return make_file(out, cmd) ? out : "";
}

std::string join(const std::vector<int32_t>& ids) {
  std::string s;
  for (int32_t i : ids) s += (s.empty() ? "" : ",") + std::to_string(i);
  return s;
}

// Worst row of |a - b| / max|b|, over the first `rows` rows of V logits; *median gets the
// median row's value.
double worst_rel(const std::vector<float>& a, const std::vector<float>& b, int64_t rows, int64_t V,
                 int64_t* at, double* median) {
  double worst = 0;
  std::vector<double> per_row;
  for (int64_t r = 0; r < rows; ++r) {
    double d = 0, m = 0;
    for (int64_t v = 0; v < V; ++v) {
      d = std::max(d, std::fabs(double(a[size_t(r * V + v)]) - b[size_t(r * V + v)]));
      m = std::max(m, std::fabs(double(b[size_t(r * V + v)])));
    }
    per_row.push_back(d / m);
    if (d / m > worst) worst = d / m, *at = r;
  }
  std::nth_element(per_row.begin(), per_row.begin() + rows / 2, per_row.end());
  *median = per_row[size_t(rows / 2)];
  return worst;
}

struct Case {
  std::string arch, type;
  bool pure;
};

std::string case_name(const testing::TestParamInfo<Case>& i) {
  return i.param.arch + "_" + i.param.type + (i.param.pure ? "_pure" : "");
}

class QuantRef : public testing::TestWithParam<Case> {};

TEST_P(QuantRef, LogitsAndGreedyMatchLlamaCpp) {
  QUANT_REF_SKIP_UNLESS_READY();
  const Case& c = GetParam();
  const std::string model = quantized(c.arch, c.type, c.pure);
  ASSERT_FALSE(model.empty()) << "could not make the " << c.arch << " " << c.type << " file";
  r1::test::TempDir tmp;
  const std::string prompt = c.arch == "llama" ? "Once upon a time" : "The quick brown fox";
  auto run = run_r1({"run", model, "-p", prompt, "-n", "32", "--temp", "0", "--ignore-eos",
                     "--json", "-t", "2"});
  ASSERT_EQ(run.rc, 0) << run.err;
  const auto j = nlohmann::json::parse(run.out);
  const auto P = j["prompt_ids"].get<std::vector<int32_t>>();
  const auto G = j["ids"].get<std::vector<int32_t>>();
  ASSERT_EQ(G.size(), 32u);
  ASSERT_LT(P.size(), 8u) << "the prompt must stay below matmul's prefill threshold";

  const std::string lf = tmp.file("oracle.f32"), of = tmp.file("oracle.out");
  ASSERT_EQ(sh(quote(llama_oracle()) + " -m " + quote(model) + " -p " + join(P) + " -n 32 -t 2 --kv f32 -o " +
               quote(lf) + " >" + quote(of) + " 2>/dev/null"), 0);
  std::string out = slurp(of), gen_line;
  std::istringstream ls(out);
  for (std::string l; std::getline(ls, l);)
    if (l.rfind("gen ids: ", 0) == 0) gen_line = l.substr(9);
  std::vector<int32_t> want;
  std::istringstream gs(gen_line);
  for (std::string t; std::getline(gs, t, ',');) want.push_back(std::stoi(t));
  ASSERT_EQ(want.size(), 32u) << out;
  const auto ref = read_f32(lf);
  const int64_t rows = int64_t(P.size()) + 31;
  ASSERT_EQ(ref.size() % size_t(rows), 0u);
  const int64_t V = int64_t(ref.size()) / rows;

  // Greedy tokens. A mismatch is only excused where llama.cpp's own top-2 margin is within
  // the logit tolerance (then both engines are right to within their rounding).
  for (size_t s = 0; s < 32; ++s) {
    if (G[s] == want[s]) continue;
    const float* row = ref.data() + (int64_t(P.size()) - 1 + int64_t(s)) * V;
    std::vector<float> r(row, row + V);
    std::partial_sort(r.begin(), r.begin() + 2, r.end(), std::greater<float>());
    const double amax = std::max(std::fabs(r[0]), std::fabs(*std::min_element(row, row + V)));
    ASSERT_LE(r[0] - r[1], (c.arch == "llama" ? kPrefillTol : kDecodeTol) * amax)
        << "greedy token " << s << ": r1 " << G[s] << ", llama.cpp " << want[s] << " (margin "
        << r[0] - r[1] << ")";
    std::printf("[ note ] greedy diverges at step %zu on a near tie (margin %g)\n", s, r[0] - r[1]);
    break;
  }

  // Logits: the prompt alone (decode kernels) and prompt + 31 generated tokens (prefill path),
  // both teacher-forced on llama.cpp's tokens.
  std::vector<int32_t> all = P;
  all.insert(all.end(), want.begin(), want.end() - 1);
  for (const auto& ids : {P, all}) {
    const std::string np = tmp.file("r1.npy");
    auto lr = run_r1({"logits", model, "--ids", join(ids), "--out", np, "--threads", "2"});
    ASSERT_EQ(lr.rc, 0) << lr.err;
    auto a = r1::models::read_npy_f32(np);
    ASSERT_TRUE(a.ok()) << a.message();
    ASSERT_EQ(a->shape.size(), 2u);
    ASSERT_EQ(a->shape[1], V);
    int64_t at = 0;
    double median = 0;
    const double rel = worst_rel(a->data, ref, int64_t(ids.size()), V, &at, &median);
    std::printf("[ stats ] %s %s%s T=%zu: max |r1 - llama.cpp| / max|logit| = %.3g (row %lld), "
                "median row %.3g\n", c.arch.c_str(), c.type.c_str(), c.pure ? " --pure" : "",
                ids.size(), rel, static_cast<long long>(at), median);
    if (ids.size() < 8 && c.arch != "llama")
      EXPECT_LE(rel, kDecodeTol) << "T=" << ids.size() << " row " << at;
    else if (ids.size() < 8)
      EXPECT_LE(rel, kPrefillTol) << "T=" << ids.size() << " row " << at;
    else
      EXPECT_LE(median, kPrefillTol) << "T=" << ids.size() << " median row";
  }
}

std::vector<Case> cases() {
  std::vector<Case> v;
  // llama.cpp file types; with --pure every 2-D weight gets the type's base type (Q3_K_M: Q3_K,
  // Q4_K_M: Q4_K, Q5_K_M: Q5_K).
  const char* pure[] = {"Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K_M", "Q4_K_M", "Q5_K_M", "Q6_K", "IQ4_NL", "IQ4_XS"};
  const char* presets[] = {"Q2_K", "Q3_K_S", "Q3_K_M", "Q3_K_L", "Q4_K_S", "Q4_K_M", "Q5_K_S", "Q5_K_M"};
  // Every case costs 10-40 s (the 129k/152k vocabularies dominate), so make test runs every type
  // once on qwen2 plus the common presets and one file per other architecture; R1_QUANT_REF_ALL=1
  // runs the whole 3 x 18 matrix.
  const bool all = !env_or("R1_QUANT_REF_ALL", "").empty();
  for (const char* arch : {"qwen2", "deepseek2", "llama"}) {
    const std::string a = arch;
    for (const char* t : pure)
      if (all || a == "qwen2" || std::string(t) == "Q4_K_M") v.push_back({arch, t, true});
    for (const char* t : presets)
      if (all || std::string(t) == "Q4_K_M" || (a == "qwen2" && std::string(t) == "Q3_K_L"))
        v.push_back({arch, t, false});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Types, QuantRef, testing::ValuesIn(cases()), case_name);

}  // namespace
