#include "train/trainer.h"

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/storage.h"
#include "train/checkpoint.h"
#include "train/data.h"
#include "train/lm.h"
#include "train/optim.h"
#include "train/run_log.h"

namespace r1::train {

namespace fs = std::filesystem;

Result<void> run_pretrain(const PretrainOptions& o, ThreadPool& pool, std::FILE* progress) {
  if (o.steps <= 0 || o.batch <= 0 || o.accum <= 0)
    return make_error("steps, batch and accum must be positive");
  if (o.out.empty()) return make_error("--out is required");
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return make_error("{}: cannot create: {}", o.out, ec.message());

  std::string tok_json = o.tokenizer;
  if (fs::is_directory(tok_json)) tok_json += "/tokenizer.json";
  R1_ASSIGN_OR_RETURN(tok, tok::Tokenizer::from_path(tok_json));
  R1_ASSIGN_OR_RETURN(stream, load_corpus(o.data, *tok, tok->eos_id()));
  const int64_t n_tokens = int64_t(stream.size());
  R1_ASSIGN_OR_RETURN(ds, PackedDataset::make(std::move(stream), o.seq_len, o.seed,
                                              o.val_every > 0 ? o.val_windows : 0));

  int64_t start = 0;
  std::unique_ptr<TrainLM> lm;
  const int64_t last = o.resume ? latest_checkpoint(o.out) : -1;
  if (last >= 0) {
    R1_ASSIGN_OR_RETURN(m, TrainLM::load(checkpoint_path(o.out, last), pool));
    lm = std::move(m);
    start = last;
  } else if (!o.init_from.empty()) {
    R1_ASSIGN_OR_RETURN(m, TrainLM::load(o.init_from, pool));
    lm = std::move(m);
  } else {
    if (o.model_config.empty()) return make_error("--model-config (or --init-from) is required");
    std::ifstream cf(o.model_config);
    if (!cf) return make_error("{}: cannot read", o.model_config);
    nlohmann::json cj = nlohmann::json::parse(cf, nullptr, false);
    if (cj.is_discarded() || !cj.is_object())
      return make_error("{}: not a JSON object", o.model_config);
    // The random init stays in OUT/init (an HF dir `r1 run` loads), for any architecture.
    R1_ASSIGN_OR_RETURN(m, TrainLM::init(cj, o.model_config, o.seed, o.out + "/init", pool));
    lm = std::move(m);
  }
  if (tok->vocab_size() > lm->vocab_size())
    return make_error("tokenizer has {} ids but the model's vocab_size is {}", tok->vocab_size(),
                      lm->vocab_size());

  AdamWConfig ac;
  ac.beta1 = o.beta1;
  ac.beta2 = o.beta2;
  ac.weight_decay = o.weight_decay;
  AdamW opt(lm->params(), ac);
  if (last >= 0) {
    R1_ASSIGN_OR_RETURN(st, load_optimizer(checkpoint_path(o.out, last), *lm, opt));
    (void)st;
  }
  const std::string metrics_path = o.out + "/metrics.jsonl";
  // Fault injection for the kill -9 test (tests/pretrain_cli_test.cpp): R1_TEST_KILL_AFTER_STEP=N
  // makes the process SIGKILL itself once step N's metrics line is written, so the kill lands at
  // a known point of the run instead of racing a polling shell. Unset: never.
  const char* kill_env = std::getenv("R1_TEST_KILL_AFTER_STEP");
  const int64_t kill_after = kill_env && *kill_env ? std::atoll(kill_env) : -1;
  if (start > 0) {
    R1_TRY(truncate_metrics(metrics_path, start));
  } else {
    R1_TRY(write_file_atomic(metrics_path, "", 0));
  }
  nlohmann::json gen = nlohmann::json::object();
  if (tok->bos_id() >= 0) gen["bos_token_id"] = tok->bos_id();
  if (tok->eos_id() >= 0) gen["eos_token_id"] = tok->eos_id();
  nlohmann::json state = {{"seed", o.seed}, {"batch", o.batch}, {"accum", o.accum},
                          {"seq_len", o.seq_len}};

  if (progress && !o.quiet)
    std::fprintf(progress,
                 "pretrain: %s, %.2fM params, corpus %lld tokens (%lld windows of %lld), "
                 "%lld tokens/step, steps %lld..%lld\n",
                 lm->arch().c_str(), double(lm->n_params()) / 1e6, (long long)n_tokens,
                 (long long)ds.n_windows(), (long long)o.seq_len,
                 (long long)(o.batch * o.accum * o.seq_len), (long long)start + 1,
                 (long long)o.steps);
  const int64_t tokens_per_step = o.batch * o.accum * o.seq_len;
  std::vector<int32_t> in, tgt, bin, btgt;
  ProgressMeter meter(start, o.steps);  // wall clock: checkpoints and validation count
  for (int64_t step = start; step < o.steps; ++step) {
    lm->zero_grad();
    double loss_sum = 0;
    int64_t count = 0;
    const float scale = 1.0f / float(tokens_per_step);
    for (int64_t a = 0; a < o.accum; ++a) {
      // The micro-batch's rows through one batched forward (one GEMM per projection).
      bin.clear();
      btgt.clear();
      for (int64_t b = 0; b < o.batch; ++b) {
        ds.sample((step * o.accum + a) * o.batch + b, in, tgt);
        bin.insert(bin.end(), in.begin(), in.end());
        btgt.insert(btgt.end(), tgt.begin(), tgt.end());
      }
      const float mtp_scale = o.mtp_weight > 0 && lm->has_mtp() ? float(o.mtp_weight) * scale : 0;
      const auto l = lm->forward_backward_mtp(bin, btgt, scale, mtp_scale, o.batch);
      loss_sum += l.main_sum;
      count += l.main_count;
    }
    const double gnorm = clip_grad_norm(lm->params(), o.clip);
    const double lr = lr_at(step, o.lr, o.min_lr, o.warmup, o.steps);
    opt.step(lm->params(), lr);
    lm->update_router_bias(o.router_bias_rate);
    const double loss = loss_sum / double(std::max<int64_t>(count, 1));
    nlohmann::json line = {{"step", step + 1}, {"loss", loss}, {"lr", lr}, {"grad_norm", gnorm}};
    if (ds.n_val() > 0 && o.val_every > 0 && ((step + 1) % o.val_every == 0 || step + 1 == o.steps)) {
      double vs = 0;
      int64_t vn = 0;
      for (int64_t i = 0; i < ds.n_val(); ++i) {
        ds.val_sample(i, in, tgt);
        int64_t c = 0;
        vs += lm->eval_loss(in, tgt, &c);
        vn += c;
      }
      line["val_loss"] = vs / double(std::max<int64_t>(vn, 1));
      if (progress && !o.quiet)
        std::fprintf(progress, "step %lld val_loss %.4f\n", (long long)step + 1,
                     line["val_loss"].get<double>());
    }
    meter.step_done(step + 1, tokens_per_step);
    line["tokens_per_s"] = meter.tokens_per_s();
    line["elapsed_s"] = meter.elapsed_s();
    {
      std::ofstream mf(metrics_path, std::ios::app);
      mf << line.dump() << "\n";
      if (!mf) return make_error("{}: write failed", metrics_path);
    }
    if (progress && !o.quiet) {
      std::fprintf(progress, "step %lld/%lld loss %.4f lr %.2e | %.0f tok/s | ETA %s\n",
                   (long long)step + 1, (long long)o.steps, loss, lr, meter.tokens_per_s(),
                   eta_string(meter.eta_s()).c_str());
      std::fflush(progress);
    }
    if (step + 1 == kill_after) std::raise(SIGKILL);
    if ((step + 1) % std::max<int64_t>(o.save_every, 1) == 0 || step + 1 == o.steps) {
      R1_ASSIGN_OR_RETURN(path,
                          save_checkpoint(o.out, step + 1, *lm, opt, state, tok_json, gen,
                                          o.keep_last));
      if (progress && !o.quiet) std::fprintf(progress, "saved %s\n", path.c_str());
    }
  }
  return {};
}

}  // namespace r1::train
