// `r1 logits MODEL --ids 1,2,3 --out FILE.npy`: one forward pass over the given token ids, writing
// the logits of every position as float32 [T, vocab] .npy: the tool that checks an implementation
// against a reference (../shared/fixtures/*/logits.npy, llama.cpp dumps).
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/load_flags.h"
#include "cli/commands.h"
#include "models/model.h"
#include "models/npy.h"

namespace r1::cli {
namespace {

// "1,2, 3" -> ids. Errors: empty list, a non-integer or negative item.
Result<std::vector<int32_t>> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  if (s.find_first_not_of(" \t,") == std::string::npos)
    return make_error("--ids: no token ids given");
  size_t i = 0;
  while (i <= s.size()) {
    size_t j = s.find(',', i);
    if (j == std::string::npos) j = s.size();
    std::string item = s.substr(i, j - i);
    const size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (item.empty()) {
      if (j == s.size() && !ids.empty() && i == s.size()) break;  // trailing comma
      return make_error("--ids: empty item in '{}' (expected comma-separated token ids)", s);
    }
    if (item.find_first_not_of("0123456789") != std::string::npos || item.size() > 10)
      return make_error("--ids: '{}' is not a token id (a non-negative integer)", item);
    const long long v = std::stoll(item);
    if (v > INT32_MAX) return make_error("--ids: {} is too large", item);
    ids.push_back(int32_t(v));
    i = j + 1;
  }
  if (ids.empty()) return make_error("--ids: no token ids given");
  return ids;
}

}  // namespace

int cmd_logits(int argc, char** argv) {
  CLI::App app{"Runs one forward pass over token ids and writes the logits of every position as "
               "a float32 [T, vocab] NumPy .npy file.", "r1 logits"};
  std::string model_path, ids_arg, out_path;
  int threads = default_threads();
  app.add_option("model", model_path, "model: a Hugging Face directory or a .gguf file")
      ->required();
  app.add_option("--ids", ids_arg, "comma-separated token ids, e.g. 1,2,3")->required();
  app.add_option("--out", out_path, "output .npy file (float32, shape [T, vocab], C order)")
      ->required();
  app.add_option("--threads", threads, "threads")->capture_default_str();
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  auto ids = parse_ids(ids_arg);
  if (!ids.ok()) {
    std::fprintf(stderr, "r1 logits: %s\n", ids.message().c_str());
    return 2;
  }
  auto loaded = load_model_and_tokenizer(model_path, threads, /*with_tokenizer=*/false);
  if (!loaded.ok()) {
    std::fprintf(stderr, "r1 logits: %s\n", loaded.message().c_str());
    return 1;
  }
  models::CausalLM& m = *loaded->model;
  const int64_t V = m.info().vocab_size, T = int64_t(ids->size());
  for (int32_t id : *ids) {
    if (id >= V) {
      std::fprintf(stderr, "r1 logits: --ids: token id %d is out of range for vocab size %lld\n",
                   id, static_cast<long long>(V));
      return 2;
    }
  }
  if (m.info().max_position_embeddings > 0 && T > m.info().max_position_embeddings) {
    std::fprintf(stderr, "r1 logits: --ids: %lld tokens exceed the model's context length %lld\n",
                 static_cast<long long>(T),
                 static_cast<long long>(m.info().max_position_embeddings));
    return 2;
  }
  auto session = m.new_session(T);
  std::vector<float> logits(static_cast<size_t>(T * V));
  const auto t0 = std::chrono::steady_clock::now();
  m.forward(*ids, *session, logits.data(), true);
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  auto w = models::write_npy_f32(out_path, logits.data(), {T, V});
  if (!w.ok()) {
    std::fprintf(stderr, "r1 logits: %s\n", w.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "r1 logits: %lld tokens -> %s [%lld, %lld] in %.1f ms\n",
               static_cast<long long>(T), out_path.c_str(), static_cast<long long>(T),
               static_cast<long long>(V), ms);
  return 0;
}

}  // namespace r1::cli
