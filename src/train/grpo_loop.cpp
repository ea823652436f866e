// run_grpo: the GRPO training loop (grpo.h). Per step: generate groups (with DAPO dynamic
// sampling rounds when asked), reward, advantages, num_iterations optimizer passes, metrics,
// checkpoints.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "core/storage.h"
#include "tokenizer/tokenizer.h"
#include "train/checkpoint.h"
#include "train/grpo.h"
#include "train/optim.h"
#include "train/run_log.h"

namespace r1::train {

namespace fs = std::filesystem;

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

uint64_t mix64(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b * 0xD1B54A32D192ED03ull + 0x632BE59BD9B4E019ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBull;
  return x ^ (x >> 33);
}

/// One scored completion of a group.
struct Row {
  int64_t prompt_index = 0;
  std::vector<int32_t> prompt_ids;
  Sample s;
  double reward = 0;
  std::vector<float> per_fn;
  float advantage = 0;
};

}  // namespace

Result<void> run_grpo(const GrpoOptions& o, const std::function<GrpoPrompt(int64_t)>& prompt_at,
                      const std::vector<GrpoReward>& rewards, ThreadPool& pool,
                      std::FILE* progress) {
  if (o.steps <= 0 || o.prompts_per_step <= 0 || o.num_generations <= 0 ||
      o.num_iterations <= 0 || o.max_completion_length <= 0)
    return make_error("steps, prompts-per-step, num_generations, num_iterations and "
                      "max_completion_length must be positive");
  if (o.temperature <= 0) return make_error("--temperature must be > 0 for GRPO sampling");
  if (rewards.empty()) return make_error("no reward functions");
  R1_ASSIGN_OR_RETURN(loss_type, grpo::parse_loss_type(o.loss_type));
  if (o.out.empty()) return make_error("--out is required");
  std::error_code ec;
  fs::create_directories(o.out, ec);
  if (ec) return make_error("{}: cannot create: {}", o.out, ec.message());

  const std::string tok_json = o.model + "/tokenizer.json";
  R1_ASSIGN_OR_RETURN(tok, tok::Tokenizer::from_path(tok_json));
  const int64_t last = o.resume ? latest_checkpoint(o.out) : -1;
  const std::string start_dir = last >= 0 ? checkpoint_path(o.out, last) : o.model;
  R1_ASSIGN_OR_RETURN(lm, TrainLM::load(start_dir, pool));
  // Rollouts sample from the trained model itself (no second model over the same weights).
  auto policy = std::make_unique<GrpoPolicy>(*lm);
  std::unique_ptr<TrainLM> ref_lm;
  std::unique_ptr<GrpoPolicy> ref;
  if (o.beta != 0.0) {  // beta 0 skips the reference model entirely
    R1_ASSIGN_OR_RETURN(r, TrainLM::load(o.model, pool));
    ref_lm = std::move(r);
    ref = std::make_unique<GrpoPolicy>(*ref_lm);
  }
  AdamWConfig ac;
  ac.beta1 = o.beta1;
  ac.beta2 = o.beta2;
  ac.weight_decay = o.weight_decay;
  AdamW opt(lm->params(), ac);
  int64_t cursor = 0;  // next prompt index
  double elapsed_before = 0;
  const std::string metrics_path = o.out + "/metrics.jsonl";
  if (last >= 0) {
    R1_ASSIGN_OR_RETURN(st, load_optimizer(start_dir, *lm, opt));
    cursor = st.value("prompt_cursor", int64_t(0));
    elapsed_before = st.value("elapsed_s", 0.0);
    R1_TRY(truncate_metrics(metrics_path, last));
  } else {
    R1_TRY(write_file_atomic(metrics_path, "", 0));
  }
  std::vector<int32_t> eos = tok->eos_ids();
  for (int32_t e : policy->model().info().eos_token_ids)
    if (std::find(eos.begin(), eos.end(), e) == eos.end()) eos.push_back(e);
  if (eos.empty()) return make_error("{}: the tokenizer has no EOS token", tok_json);
  nlohmann::json gen = nlohmann::json::object();
  if (tok->bos_id() >= 0) gen["bos_token_id"] = tok->bos_id();
  gen["eos_token_id"] = eos.front();

  const int64_t G = o.num_generations, P = o.prompts_per_step;
  if (progress && !o.quiet)
    std::fprintf(progress,
                 "grpo: %s, %.2fM params, %lld prompts x G=%lld per step, loss %s, beta %g, "
                 "eps %g/%g, mu %lld, lr %g, steps %lld..%lld\n",
                 lm->arch().c_str(), double(lm->n_params()) / 1e6, (long long)P, (long long)G,
                 o.loss_type.c_str(), o.beta, o.epsilon, o.epsilon_high,
                 (long long)o.num_iterations, o.learning_rate, (long long)(last >= 0 ? last : 0) + 1,
                 (long long)o.steps);
  const auto run_t0 = Clock::now();
  // Wall clock over the completion tokens sampled (checkpoints included); the ETA also
  // respects the time budget.
  ProgressMeter meter(std::max<int64_t>(last, 0), o.steps);
  const int64_t V = lm->vocab_size();
  (void)V;
  for (int64_t step = std::max<int64_t>(last, 0); step < o.steps; ++step) {
    const auto t0 = Clock::now();
    // ---- generation (+ dynamic sampling rounds) ----
    std::vector<Row> kept, all;
    int64_t zero_std = 0, groups_seen = 0, gen_tokens = 0;
    double gen_s = 0;
    for (int64_t round = 0; int64_t(kept.size()) < P * G; ++round) {
      const int64_t need = P - int64_t(kept.size()) / G;
      std::vector<std::vector<int32_t>> prompts;
      std::vector<uint64_t> seeds;
      std::vector<GrpoPrompt> gp;
      for (int64_t i = 0; i < need; ++i) {
        gp.push_back(prompt_at(cursor + i));
        std::vector<int32_t> ids = tok->encode(gp.back().prompt, tok->bos_id() >= 0, false);
        for (int64_t g = 0; g < G; ++g) {
          prompts.push_back(ids);
          seeds.push_back(mix64(o.seed, uint64_t((cursor + i) * G + g)));
        }
      }
      const auto tg = Clock::now();
      std::vector<Sample> samples =
          sample_batch(policy->model(), *tok, prompts, eos, o.max_completion_length, o.temperature, seeds);
      gen_s += seconds_since(tg);
      std::vector<Row> rows(samples.size());
      std::vector<float> r(samples.size());
      for (size_t k = 0; k < samples.size(); ++k) {
        Row& row = rows[k];
        const int64_t pi = int64_t(k) / G;
        row.prompt_index = cursor + pi;
        row.prompt_ids = prompts[k];
        row.s = std::move(samples[k]);
        gen_tokens += int64_t(row.s.tokens.size());
        std::span<const int32_t> body(row.s.tokens);
        if (!row.s.truncated && !body.empty()) body = body.first(body.size() - 1);  // the EOS
        const std::string text = tok->decode(body, true);
        double total = 0;
        for (const auto& rf : rewards) {
          const float v = rf.fn(gp[size_t(pi)].prompt, text, gp[size_t(pi)].gold);
          row.per_fn.push_back(v);
          total += rf.weight * v;
        }
        total += o.overlong_penalty_factor *
                 grpo::overlong_penalty(int64_t(row.s.tokens.size()), o.max_completion_length,
                                        o.overlong_buffer);
        row.reward = total;
        r[k] = float(total);
      }
      cursor += need;
      int64_t z = 0;
      const std::vector<float> adv = grpo::group_advantages(r, G, o.scale_rewards, o.adv_eps, &z);
      const std::vector<bool> flat = grpo::zero_std_flags(r, G);
      zero_std += z;
      groups_seen += need;
      const bool last_round = !o.dynamic_sampling || round >= o.max_resample_rounds;
      for (size_t k = 0; k < rows.size(); ++k) {
        rows[k].advantage = adv[k];
        all.push_back(rows[k]);
        if (!flat[k / size_t(G)] || last_round) kept.push_back(rows[k]);
      }
      if (last_round) break;
    }
    // ---- optimisation ----
    const auto tt = Clock::now();
    std::vector<int64_t> lens;
    for (const Row& row : kept)
      lens.push_back(o.mask_truncated && row.s.truncated ? 0 : int64_t(row.s.tokens.size()));
    const std::vector<double> w = grpo::sequence_weights(lens, loss_type, o.max_completion_length);
    std::vector<std::vector<double>> ref_lp(kept.size());
    std::vector<std::vector<int32_t>> seqs(kept.size());
    for (size_t k = 0; k < kept.size(); ++k) {
      seqs[k] = kept[k].prompt_ids;
      seqs[k].insert(seqs[k].end(), kept[k].s.tokens.begin(), kept[k].s.tokens.end());
      if (ref && lens[k] > 0)
        ref_lp[k] = ref->completion_logprobs(seqs[k], int64_t(kept[k].prompt_ids.size()),
                                             o.temperature);
    }
    double kl_sum = 0, clip_n = 0, tok_n = 0, loss_sum = 0;
    int64_t train_tokens = 0;
    double gnorm = 0;
    const double lr = o.warmup > 0 && step < o.warmup
                          ? o.learning_rate * double(step + 1) / double(o.warmup)
                          : o.learning_rate;
    for (int64_t it = 0; it < o.num_iterations; ++it) {
      lm->zero_grad();
      for (size_t k = 0; k < kept.size(); ++k) {
        const Row& row = kept[k];
        if (lens[k] == 0) continue;
        if (row.advantage == 0.0f && o.beta == 0.0) continue;  // no gradient from this row
        const double A = row.advantage;
        policy->backward_logprobs(
            seqs[k], int64_t(row.prompt_ids.size()), o.temperature,
            [&](int64_t t, double lp) {
              // mu == 1: the old policy is the current one (ratio 1, as TRL detaches it).
              const double old = o.num_iterations == 1 ? lp : row.s.logprobs[size_t(t)];
              const double rl = ref ? ref_lp[k][size_t(t)] : 0.0;
              const grpo::TokenTerm term =
                  grpo::token_term(lp, old, rl, A, o.epsilon, o.epsilon_high, o.beta);
              kl_sum += term.kl;
              clip_n += (term.clipped_low || term.clipped_high) ? 1 : 0;
              tok_n += 1;
              loss_sum += w[k] * term.loss;
              return w[k] * term.dloss_dlogp;
            });
        train_tokens += int64_t(seqs[k].size());
      }
      gnorm = clip_grad_norm(lm->params(), o.clip);
      opt.step(lm->params(), lr);
    }
    const double train_s = seconds_since(tt);
    // ---- metrics ----
    nlohmann::json m;
    m["step"] = step + 1;
    double rsum = 0, lsum = 0, hsum = 0;
    int64_t htok = 0, trunc = 0;
    std::vector<double> fsum(rewards.size(), 0.0);
    for (const Row& row : all) {
      rsum += row.reward;
      lsum += double(row.s.tokens.size());
      hsum += row.s.entropy_sum;
      htok += int64_t(row.s.tokens.size());
      trunc += row.s.truncated ? 1 : 0;
      for (size_t f = 0; f < rewards.size(); ++f) fsum[f] += row.per_fn[f];
    }
    const double n = double(std::max<size_t>(all.size(), 1));
    m["reward"] = rsum / n;
    for (size_t f = 0; f < rewards.size(); ++f) {
      m["reward/" + rewards[f].name] = fsum[f] / n;
      if (rewards[f].name == "accuracy") m["accuracy"] = fsum[f] / n;
    }
    if (!m.contains("accuracy")) m["accuracy"] = nullptr;
    m["completion_len"] = lsum / n;
    m["truncated_frac"] = double(trunc) / n;
    m["kl"] = tok_n > 0 ? kl_sum / tok_n : 0.0;
    m["clip_frac"] = tok_n > 0 ? clip_n / tok_n : 0.0;
    m["entropy"] = htok > 0 ? hsum / double(htok) : 0.0;
    m["zero_std_groups"] = zero_std;
    m["groups"] = groups_seen;
    m["loss"] = loss_sum / double(o.num_iterations);
    m["grad_norm"] = gnorm;
    m["lr"] = lr;
    m["gen_tokens_per_s"] = double(gen_tokens) / std::max(gen_s, 1e-9);
    m["train_tokens_per_s"] = double(train_tokens) / std::max(train_s, 1e-9);
    const double step_s = seconds_since(t0);
    const double elapsed = elapsed_before + seconds_since(run_t0);
    meter.step_done(step + 1, gen_tokens);
    m["tokens_per_s"] = meter.tokens_per_s();
    m["step_s"] = step_s;
    m["elapsed_s"] = elapsed;
    {
      std::ofstream mf(metrics_path, std::ios::app);
      mf << m.dump() << "\n";
      if (!mf) return make_error("{}: write failed", metrics_path);
    }
    if (progress && !o.quiet) {
      double eta = meter.eta_s();
      if (o.time_budget > 0) eta = std::min(eta, std::max(o.time_budget - elapsed, 0.0));
      std::fprintf(progress,
                   "step %lld/%lld reward %.3f acc %s len %.1f kl %.4f clip %.3f ent %.3f "
                   "zero-std %lld/%lld | %.0f tok/s (gen %.0f, train %.0f) | %.1fs (total %.0fs) "
                   "| ETA %s\n",
                   (long long)step + 1, (long long)o.steps, rsum / n,
                   m["accuracy"].is_null() ? "-" : fmt::format("{:.3f}", m["accuracy"].get<double>()).c_str(),
                   lsum / n, m["kl"].get<double>(), m["clip_frac"].get<double>(),
                   m["entropy"].get<double>(), (long long)zero_std, (long long)groups_seen,
                   meter.tokens_per_s(), m["gen_tokens_per_s"].get<double>(),
                   m["train_tokens_per_s"].get<double>(), step_s, elapsed, eta_string(eta).c_str());
      std::fflush(progress);
    }
    const bool out_of_time = o.time_budget > 0 && elapsed >= o.time_budget;
    if ((step + 1) % std::max<int64_t>(o.save_every, 1) == 0 || step + 1 == o.steps ||
        out_of_time) {
      nlohmann::json state = {{"seed", o.seed},
                              {"prompt_cursor", cursor},
                              {"elapsed_s", elapsed},
                              {"num_generations", G},
                              {"prompts_per_step", P}};
      R1_ASSIGN_OR_RETURN(path, save_checkpoint(o.out, step + 1, *lm, opt, state, tok_json, gen,
                                                o.keep_last));
      if (progress && !o.quiet) std::fprintf(progress, "saved %s\n", path.c_str());
    }
    if (out_of_time) {
      if (progress && !o.quiet)
        std::fprintf(progress, "time budget %.0fs reached after step %lld\n", o.time_budget,
                     (long long)step + 1);
      break;
    }
  }
  return {};
}

}  // namespace r1::train
