// `r1 perplexity MODEL --data FILE [--ctx N] [--save-logits F | --kl-divergence-base F]`: how well
// a model predicts a text, with llama-perplexity's conventions (chunks of --ctx tokens, each
// starting with BOS, second half scored; eval/perplexity.h), and how far a quantised model's
// next-token distributions are from a base model's saved ones (KL divergence, top-token agreement,
// Δp), the statistics users choose a quantisation by. Progress goes to stderr, results to stdout.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "cli/load_flags.h"
#include "eval/logprob_file.h"
#include "eval/perplexity.h"
#include "models/model.h"

namespace r1::cli {
namespace {

using Clock = std::chrono::steady_clock;

int fail(const std::string& msg, int rc = 1) {
  std::fprintf(stderr, "r1 perplexity: %s\n", msg.c_str());
  return rc;
}

// Runs one chunk through the model and keeps the logits of positions first .. n_ctx-1.
// Positions before `first` are run without their logits (only the KV cache is needed), in
// pieces of at most `batch` tokens, as llama-perplexity feeds n_batch tokens per decode.
class ChunkRunner {
 public:
  ChunkRunner(models::CausalLM& m, int64_t n_ctx, int64_t first, int64_t batch)
      : m_(m), session_(m.new_session(n_ctx)), n_ctx_(n_ctx), first_(first), batch_(batch),
        V_(m.info().vocab_size),
        logits_(size_t((n_ctx - first) * V_)), last_(size_t(V_)) {}

  /// chunk: [n_ctx] ids. After it, row(j) holds the logits of position first + j.
  void run(std::span<const int32_t> chunk) {
    session_->truncate(0);
    for (int64_t p = 0; p < n_ctx_;) {
      const int64_t end = std::min(p < first_ ? first_ : n_ctx_, p + batch_);
      const bool keep = p >= first_;
      m_.forward(chunk.subspan(size_t(p), size_t(end - p)), *session_,
                 keep ? logits_.data() + (p - first_) * V_ : last_.data(), keep);
      p = end;
    }
  }
  std::span<const float> row(int64_t j) const {
    return {logits_.data() + j * V_, size_t(V_)};
  }

 private:
  models::CausalLM& m_;
  std::unique_ptr<models::Session> session_;
  int64_t n_ctx_, first_, batch_, V_;
  std::vector<float> logits_, last_;
};

std::string eta(double seconds) {
  char b[64];
  if (seconds >= 3600)
    std::snprintf(b, sizeof b, "%d h %.1f min", int(seconds / 3600), std::fmod(seconds, 3600) / 60);
  else
    std::snprintf(b, sizeof b, "%.2f min", seconds / 60);
  return b;
}

void print_kld_summary(const eval::KldSummary& s) {
  std::printf("====== Perplexity statistics ======\n");
  std::printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s.ppl.mean, s.ppl.uncertainty);
  std::printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s.ppl_base.mean,
              s.ppl_base.uncertainty);
  std::printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100.0 * s.log_ppl_correlation);
  std::printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s.log_ppl_ratio.mean,
              s.log_ppl_ratio.uncertainty);
  std::printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s.ppl_ratio.mean,
              s.ppl_ratio.uncertainty);
  std::printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n\n", s.ppl_diff.mean,
              s.ppl_diff.uncertainty);
  std::printf("====== KL divergence statistics ======\n");
  std::printf("Mean    KLD: %10.6f ± %10.6f\n", s.kld.mean, s.kld.uncertainty);
  const auto& k = s.kld_sorted;
  std::printf("Maximum KLD: %10.6f\n", k.back());
  for (double f : {0.999, 0.99, 0.95, 0.90})
    std::printf("%4.1f%%   KLD: %10.6f\n", 100 * f, eval::percentile(k, f));
  std::printf("Median  KLD: %10.6f\n", eval::percentile(k, 0.5));
  for (double f : {0.10, 0.05, 0.01, 0.001})
    std::printf("%4.1f%%   KLD: %10.6f\n", 100 * f, eval::percentile(k, f));
  std::printf("Minimum KLD: %10.6f\n\n", k.front());
  std::printf("====== Token probability statistics ======\n");
  std::printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * s.p_diff.mean, 100 * s.p_diff.uncertainty);
  const auto& d = s.p_diff_sorted;
  std::printf("Maximum Δp: %6.3f%%\n", 100 * d.back());
  for (double f : {0.999, 0.99, 0.95, 0.90, 0.75})
    std::printf("%4.1f%%   Δp: %6.3f%%\n", 100 * f, 100 * eval::percentile(d, f));
  std::printf("Median  Δp: %6.3f%%\n", 100 * eval::percentile(d, 0.5));
  for (double f : {0.25, 0.10, 0.05, 0.01, 0.001})
    std::printf("%4.1f%%   Δp: %6.3f%%\n", 100 * f, 100 * eval::percentile(d, f));
  std::printf("Minimum Δp: %6.3f%%\n", 100 * d.front());
  std::printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * s.p_diff_rms.mean,
              100 * s.p_diff_rms.uncertainty);
  std::printf("Same top p: %6.3f ± %5.3f %%\n", 100 * s.same_top.mean, 100 * s.same_top.uncertainty);
}

// The KL statistics as JSON (full precision; percentiles keyed as in the printed table).
nlohmann::ordered_json kld_json(const eval::KldSummary& s) {
  auto mu = [](const eval::MeanUncertainty& m) {
    return nlohmann::ordered_json{{"mean", m.mean}, {"uncertainty", m.uncertainty}};
  };
  nlohmann::ordered_json kp, dp;
  for (double f : {1.0, 0.999, 0.99, 0.95, 0.90, 0.5, 0.10, 0.05, 0.01, 0.001, 0.0})
    kp[fmt::format("{:g}", 100 * f)] = eval::percentile(s.kld_sorted, f);
  for (double f : {1.0, 0.999, 0.99, 0.95, 0.90, 0.75, 0.5, 0.25, 0.10, 0.05, 0.01, 0.001, 0.0})
    dp[fmt::format("{:g}", 100 * f)] = eval::percentile(s.p_diff_sorted, f);
  return {{"ppl", mu(s.ppl)},
          {"ppl_base", mu(s.ppl_base)},
          {"log_ppl_correlation", s.log_ppl_correlation},
          {"log_ppl_ratio", mu(s.log_ppl_ratio)},
          {"ppl_ratio", mu(s.ppl_ratio)},
          {"ppl_diff", mu(s.ppl_diff)},
          {"kld", mu(s.kld)},
          {"kld_percentiles", kp},
          {"p_diff", mu(s.p_diff)},
          {"p_diff_percentiles", dp},
          {"p_diff_rms", mu(s.p_diff_rms)},
          {"same_top", mu(s.same_top)}};
}

}  // namespace

int cmd_perplexity(int argc, char** argv) {
  CLI::App app{
      "Perplexity of a model on a text, as llama-perplexity computes it: the tokens (BOS first "
      "when the tokenizer adds one) are cut into chunks of --ctx tokens, each chunk's first token "
      "is replaced by BOS, the chunk runs in one context and only its second half is scored "
      "(positions ctx/2 .. ctx-2 predict the next token), so every scored token sees at least "
      "ctx/2 tokens. A progress line per chunk (stderr) shows the running PPL ± its standard "
      "error; the last line (stdout) is `Final estimate: PPL = X +/- U`.\n"
      "--save-logits F stores the model's next-token distributions at every scored position "
      "(uint16 log-probability codes, 12 + 2*vocab bytes per position, with the tokens; written "
      "atomically). --kl-divergence-base F runs another model (e.g. a quantisation) on the same "
      "tokens and prints llama-perplexity's statistics: PPL of both, KL divergence from the base, "
      "Δp of the next token's probability, and how often the top token agrees.",
      "r1 perplexity"};
  std::string model_path, data_path, save_path, base_path;
  int64_t ctx = 0, chunks = 0, batch = 512;
  int threads = default_threads();
  bool json = false;
  app.add_option("model", model_path, "model: a Hugging Face directory or a .gguf file")
      ->required();
  app.add_option("--data", data_path,
                 "UTF-8 text file to score (optional with --kl-divergence-base: the tokens are in "
                 "the base file; if given, its tokens must match)");
  auto* ctx_opt = app.add_option("--ctx", ctx,
                                 "tokens per chunk (default 512, or the model's context if "
                                 "smaller; with --kl-divergence-base, the base file's)")
                      ->check(number_at_least(3));
  app.add_option("--chunks", chunks, "evaluate at most this many chunks (default: all)")
      ->check(number_at_least(1));
  app.add_option("--batch", batch, "tokens per forward pass within a chunk")
      ->check(number_at_least(1))
      ->capture_default_str();
  auto* save_opt = app.add_option("--save-logits", save_path,
                                  "write the base distributions to this file (for "
                                  "--kl-divergence-base)");
  auto* base_opt = app.add_option("--kl-divergence-base", base_path,
                                   "compare with the distributions saved by --save-logits");
  save_opt->excludes(base_opt);
  app.add_flag("--json", json,
               "print the results as one JSON object (full precision) instead of the summary");
  app.add_option("--threads", threads, "threads")->check(number_at_least(1))->capture_default_str();
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  if (data_path.empty() && base_path.empty())
    return fail("--data is required (the text to score)", 2);

  std::string text;
  if (!data_path.empty()) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(data_path, ec))
      return fail(fmt::format("--data {}: no such file", data_path), 2);
    std::ifstream in(data_path, std::ios::binary);
    std::ostringstream ss;
    ss << in.rdbuf();
    if (!in) return fail(fmt::format("--data {}: cannot read", data_path));
    text = ss.str();
  }

  // The base file first: a wrong one fails before a model is loaded.
  std::optional<eval::LogProbReader> base;
  if (!base_path.empty()) {
    auto r = eval::LogProbReader::open(base_path);
    if (!r.ok()) return fail("--kl-divergence-base " + r.message());
    base.emplace(std::move(r).value());
    if (ctx_opt->count() > 0 && ctx != base->header().n_ctx)
      return fail(fmt::format("--ctx {} differs from the base file's {} ({}): leave --ctx out", ctx,
                              base->header().n_ctx, base_path),
                  2);
  }

  auto loaded = load_model_and_tokenizer(model_path, threads, /*with_tokenizer=*/!data_path.empty());
  if (!loaded.ok()) return fail(loaded.message());
  models::CausalLM& m = *loaded->model;
  const models::ModelInfo& info = m.info();
  const int64_t V = info.vocab_size, model_ctx = info.max_position_embeddings;

  if (base) ctx = base->header().n_ctx;
  else if (ctx_opt->count() == 0) ctx = model_ctx > 0 ? std::min<int64_t>(512, model_ctx) : 512;
  if (model_ctx > 0 && ctx > model_ctx)
    return fail(fmt::format("{} {} is larger than the model's context length {}",
                            base ? "the base file's n_ctx" : "--ctx", ctx, model_ctx),
                2);
  if (base && base->header().n_vocab != V)
    return fail(fmt::format("--kl-divergence-base {}: saved with a vocabulary of {}, this model "
                            "has {}: the base file is from another model family",
                            base_path, base->header().n_vocab, V),
                2);

  // The evaluated tokens: [n_chunk * ctx], each chunk starting with BOS when the tokenizer adds one.
  eval::ChunkPlan plan;
  std::vector<int32_t> tokens;
  int32_t bos = -1;
  if (!data_path.empty()) {
    const tok::Tokenizer& tk = *loaded->tokenizer;
    bos = tk.bos_id() >= 0 && tk.add_bos_default() ? tk.bos_id() : -1;
    // As llama-perplexity: BOS first (when the vocabulary adds one), special-token text as text.
    const std::vector<int32_t> ids = tk.encode(text, bos >= 0, /*parse_special=*/false);
    for (int32_t id : ids)
      if (id >= V)
        return fail(fmt::format("--data {}: token id {} is outside the model's vocabulary of {} "
                                "(tokenizer and model disagree)",
                                data_path, id, V));
    auto p = eval::plan_chunks(int64_t(ids.size()), ctx, base ? 0 : chunks);
    if (!p.ok()) return fail(fmt::format("--data {}: {}", data_path, p.message()), 2);
    plan = *p;
    tokens = eval::chunk_tokens(ids, plan, bos);
  }
  if (base) {
    const eval::LogProbHeader& h = base->header();
    const int64_t n_chunk = chunks > 0 ? std::min(chunks, h.n_chunk) : h.n_chunk;
    if (!data_path.empty()) {
      if (plan.n_chunk < n_chunk)
        return fail(fmt::format("--data {} gives {} chunks of {}, the base file {} holds {}: made "
                                "from another text",
                                data_path, plan.n_chunk, ctx, base_path, n_chunk),
                    2);
      for (size_t i = 0; i < size_t(n_chunk * ctx); ++i)
        if (tokens[i] != base->tokens()[i])
          return fail(fmt::format("--data {}: token {} is {}, the base file {} has {}: it was "
                                  "made from another text or tokenizer",
                                  data_path, i, tokens[i], base_path, base->tokens()[i]),
                      2);
    }
    plan = eval::ChunkPlan{ctx, n_chunk, h.first};
    tokens.assign(base->tokens().begin(), base->tokens().begin() + n_chunk * ctx);
    bos = h.bos_id;
  }

  std::optional<eval::LogProbWriter> writer;
  if (!save_path.empty()) {
    eval::LogProbHeader h;
    h.n_vocab = V;
    h.n_ctx = ctx;
    h.n_chunk = plan.n_chunk;
    h.first = plan.first;
    h.bos_id = bos;
    auto w = eval::LogProbWriter::create(save_path, h, tokens);
    if (!w.ok()) return fail("--save-logits " + w.message());
    writer.emplace(std::move(w).value());
  }

  const int64_t rows = plan.scored_per_chunk();
  std::fprintf(stderr,
               "r1 perplexity: %s: %lld chunks of %lld tokens (%lld scored per chunk: positions "
               "%lld..%lld, llama-perplexity's convention), vocab %lld, BOS %d\n",
               loaded->path.c_str(), (long long)plan.n_chunk, (long long)ctx, (long long)rows,
               (long long)plan.first, (long long)(ctx - 2), (long long)V, bos);

  ThreadPool& pool = *loaded->pool;
  ChunkRunner runner(m, ctx, plan.first, batch);
  eval::NllStats nll;
  eval::KldStats kld;
  std::vector<double> row_nll(static_cast<size_t>(rows));
  std::vector<eval::LogProbRow> base_rows(static_cast<size_t>(rows));
  std::vector<eval::KldRow> kld_rows(static_cast<size_t>(rows));
  std::vector<std::vector<double>> scratch(writer ? size_t(pool.size()) : 0,
                                           std::vector<double>(size_t(V)));
  const auto t_start = Clock::now();
  if (base)
    std::fprintf(stderr, "chunk             PPL               ln(PPL(Q)/PPL(base))          KL "
                         "Divergence              Δp RMS            Same top p\n");
  for (int64_t c = 0; c < plan.n_chunk; ++c) {
    const auto t0 = Clock::now();
    const std::span<const int32_t> chunk(tokens.data() + c * ctx, size_t(ctx));
    runner.run(chunk);
    // Row j: logits of position first + j, predicting chunk[first + j + 1].
    auto target = [&](int64_t j) { return chunk[size_t(plan.first + j + 1)]; };
    if (base) {
      for (auto& r : base_rows)
        if (auto rr = base->read_row(r); !rr.ok()) return fail("--kl-divergence-base " + rr.message());
      pool.parallel_for(rows, 1, [&](int64_t b, int64_t e, int) {
        for (int64_t j = b; j < e; ++j)
          kld_rows[size_t(j)] = eval::compare_to_base(runner.row(j), target(j),
                                                      base_rows[size_t(j)].view(base->header().step));
      });
      for (const auto& r : kld_rows) kld.add(r);
      const eval::KldSummary s = kld.summary(/*with_percentiles=*/false);
      std::fprintf(stderr,
                   "%4lld    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%"
                   "    %6.3f ± %6.3f %%\n",
                   (long long)(c + 1), s.ppl.mean, s.ppl.uncertainty, s.log_ppl_ratio.mean,
                   s.log_ppl_ratio.uncertainty, s.kld.mean, s.kld.uncertainty,
                   100 * s.p_diff_rms.mean, 100 * s.p_diff_rms.uncertainty, 100 * s.same_top.mean,
                   100 * s.same_top.uncertainty);
    } else {
      pool.parallel_for(rows, 1, [&](int64_t b, int64_t e, int t) {
        for (int64_t j = b; j < e; ++j) {
          const auto lg = runner.row(j);
          int32_t top = 0;
          const std::span<double> lp = writer ? std::span<double>(scratch[size_t(t)])
                                              : std::span<double>();
          const double lse = eval::log_softmax(lg, lp, &top);
          row_nll[size_t(j)] = lse - double(lg[size_t(target(j))]);
          if (writer) {
            eval::LogProbRow& r = base_rows[size_t(j)];
            r.codes.resize(size_t(V));
            r.top_id = top;
            r.top_log_p = float(lp[size_t(top)]);
            r.nll_target = float(row_nll[size_t(j)]);
            eval::quantize_log_probs(lp, top, eval::kLogProbStep, r.codes);
          }
        }
      });
      for (double v : row_nll) nll.add(v);
      if (writer)
        for (const auto& r : base_rows)
          if (auto w = writer->write_row(r); !w.ok()) return fail("--save-logits " + w.message());
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      std::fprintf(stderr, "[%lld/%lld] PPL = %.4f ± %.4f  (%.2f s)\n", (long long)(c + 1),
                   (long long)plan.n_chunk, nll.ppl(), nll.ppl_uncertainty(), sec);
    }
    if (c == 0 && plan.n_chunk > 1) {
      const double sec = std::chrono::duration<double>(Clock::now() - t0).count();
      std::fprintf(stderr, "%.2f s per chunk, ETA %s\n", sec,
                   eta(sec * double(plan.n_chunk - 1)).c_str());
    }
  }
  const double total = std::chrono::duration<double>(Clock::now() - t_start).count();
  const double tps = double(plan.n_chunk * ctx) / total;

  if (writer) {
    if (auto w = writer->commit(); !w.ok()) return fail("--save-logits " + w.message());
    std::fprintf(stderr, "saved the distributions of %lld positions to %s\n",
                 (long long)(plan.n_chunk * rows), save_path.c_str());
  }
  if (json) {
    nlohmann::ordered_json j = {{"model", loaded->path},
                                {"n_ctx", ctx},
                                {"n_chunk", plan.n_chunk},
                                {"tokens_scored", plan.n_chunk * rows},
                                {"tokens_per_s", tps}};
    if (base) {
      j["kl_divergence_base"] = base_path;
      j.update(kld_json(kld.summary()));
    } else {
      j["ppl"] = {{"mean", nll.ppl()}, {"uncertainty", nll.ppl_uncertainty()}};
    }
    std::printf("%s\n", j.dump().c_str());
  } else if (base) {
    std::printf("\n");
    print_kld_summary(kld.summary());
  } else {
    std::printf("Final estimate: PPL = %.4f +/- %.5f\n", nll.ppl(), nll.ppl_uncertainty());
  }
  std::fprintf(stderr, "%lld tokens in %.2f s (%.1f tokens/s)\n", (long long)(plan.n_chunk * ctx),
               total, tps);
  return 0;
}

}  // namespace r1::cli
