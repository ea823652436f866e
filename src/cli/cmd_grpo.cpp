// `r1 grpo --model BASE (--task NAME | --data FILE) --out DIR`: GRPO reinforcement learning with
// rule-based rewards (DeepSeek-R1-Zero recipe; loop in train/grpo.h). Prompts come from the
// embedded task generator (train split only; held-out prompts are skipped) or a JSONL file of
// {"prompt": ..., "answer": ...}; rewards from rewards/rewards.h by name with weights. Writes
// DIR/metrics.jsonl, DIR/checkpoint-STEP/ (HF dirs `r1 run` loads) and, at the end, charts of
// reward, accuracy and completion length over steps as PNG (DIR/charts/*.png, via gnuplot).
#include <cblas.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/storage.h"
#include "rewards/rewards.h"
#include "task/task.h"
#include "train/grpo.h"

namespace r1::cli {

namespace {

std::vector<std::string> split_csv(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

uint64_t mix64(uint64_t a, uint64_t b) {
  uint64_t x = a * 0x9E3779B97F4A7C15ull + b * 0xD1B54A32D192ED03ull + 0x2545F4914F6CDD1Dull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 27;
  return x ^ (x >> 33);
}

/// Writes DIR/charts/{reward,accuracy,completion_len}.png from DIR/metrics.jsonl with gnuplot.
/// Returns the chart folder, or an error when gnuplot is missing or fails.
Result<std::string> write_charts(const std::string& dir) {
  std::ifstream f(dir + "/metrics.jsonl");
  if (!f) return make_error("{}/metrics.jsonl: cannot read", dir);
  std::string line, tsv = "# step reward accuracy completion_len\n";
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object()) continue;
    auto num = [&](const char* k) {
      return j.contains(k) && j[k].is_number() ? fmt::format("{}", j[k].get<double>()) : "NaN";
    };
    tsv += fmt::format("{} {} {} {}\n", num("step"), num("reward"), num("accuracy"),
                       num("completion_len"));
  }
  const std::string charts = dir + "/charts";
  std::error_code ec;
  std::filesystem::create_directories(charts, ec);
  R1_TRY(write_file_atomic(charts + "/metrics.dat", tsv.data(), tsv.size()));
  std::string gp = "set terminal pngcairo size 800,500\nset grid\nset xlabel 'step'\n";
  const char* cols[3][3] = {{"reward", "2", "mean reward"},
                            {"accuracy", "3", "accuracy (mean accuracy reward)"},
                            {"completion_len", "4", "mean completion length (tokens)"}};
  for (auto& c : cols)
    gp += fmt::format("set output '{0}/{1}.png'\nset title '{2}'\nset ylabel '{1}'\n"
                      "plot '{0}/metrics.dat' using 1:{3} with linespoints lw 2 pt 7 ps 0.5 "
                      "title '{1}'\n",
                      charts, c[0], c[2], c[1]);
  R1_TRY(write_file_atomic(charts + "/charts.gp", gp.data(), gp.size()));
  const std::string cmd = "gnuplot '" + charts + "/charts.gp' 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    // pngcairo is absent from some gnuplot builds: fall back to the plain png terminal.
    gp.replace(gp.find("pngcairo"), 8, "png");
    R1_TRY(write_file_atomic(charts + "/charts.gp", gp.data(), gp.size()));
    if (std::system(cmd.c_str()) != 0)
      return make_error("gnuplot failed or is not installed (scripts/install-deps.sh installs "
                        "gnuplot-nox); data in {}/metrics.dat", charts);
  }
  return charts;
}

}  // namespace

int cmd_grpo(int argc, char** argv) {
  CLI::App app{"GRPO reinforcement learning with rule-based rewards (DeepSeek-R1-Zero): samples "
               "groups of completions, scores them, and optimises the clipped group-relative "
               "objective.", "r1 grpo"};
  train::GrpoOptions o;
  std::string task_name, data, reward_funcs = "accuracy", reward_weights;
  int level = 0, threads = default_threads();
  std::string scale_rewards = "true";
  bool no_charts = false;
  app.add_option("--model", o.model, "base model: HF directory with tokenizer.json")->required();
  app.add_option("--task", task_name, "embedded task: arith, linear, countdown");
  app.add_option("--level", level, "task difficulty level (0: default mix)")->capture_default_str();
  app.add_option("--data", data, "JSONL prompts: {\"prompt\": ..., \"answer\": ...} per line");
  app.add_option("--out", o.out, "output folder (metrics.jsonl, checkpoint-STEP/, charts/)")
      ->required();
  app.add_option("--steps", o.steps, "optimizer steps (x num_iterations)")->capture_default_str();
  app.add_option("--seed", o.seed, "seed (prompt stream and sampling)")->capture_default_str();
  app.add_flag("--resume", o.resume, "continue from the newest checkpoint in --out");
  app.add_option("--num_generations", o.num_generations, "G: completions per prompt")
      ->capture_default_str();
  app.add_option("--prompts-per-step", o.prompts_per_step, "prompts (groups) per step")
      ->capture_default_str();
  app.add_option("--beta", o.beta, "KL coefficient (k3 estimator; 0 loads no reference model)")
      ->capture_default_str();
  app.add_option("--epsilon", o.epsilon, "lower clip range of the ratio")->capture_default_str();
  double eps_high = -1;
  app.add_option("--epsilon_high", eps_high, "upper clip range (default: --epsilon; DAPO 0.28)");
  app.add_option("--loss_type", o.loss_type, "grpo, bnpo, dapo (token-level) or dr_grpo")
      ->capture_default_str();
  app.add_option("--scale_rewards", scale_rewards, "divide advantages by the group std (false: Dr. GRPO)")
      ->capture_default_str();
  app.add_option("--num_iterations", o.num_iterations, "mu: optimisation passes per batch")
      ->capture_default_str();
  app.add_option("--max_completion_length", o.max_completion_length, "max new tokens")
      ->capture_default_str();
  app.add_option("--temperature", o.temperature, "sampling temperature")->capture_default_str();
  app.add_option("--learning_rate", o.learning_rate, "AdamW learning rate")->capture_default_str();
  app.add_option("--warmup", o.warmup, "linear warmup steps")->capture_default_str();
  app.add_option("--weight-decay", o.weight_decay, "AdamW weight decay")->capture_default_str();
  app.add_option("--clip", o.clip, "gradient clipping global L2 norm")->capture_default_str();
  app.add_option("--reward-funcs", reward_funcs, "comma list of: accuracy, format, language")
      ->capture_default_str();
  app.add_option("--reward-weights", reward_weights, "comma list of weights (default all 1)");
  app.add_flag("--dynamic-sampling", o.dynamic_sampling,
               "DAPO: replace zero-variance groups with fresh prompts");
  app.add_option("--max-resample-rounds", o.max_resample_rounds, "dynamic sampling rounds")
      ->capture_default_str();
  app.add_flag("--mask-truncated", o.mask_truncated, "no loss on completions cut at max length");
  app.add_option("--overlong-buffer", o.overlong_buffer,
                 "DAPO soft overlong penalty over the last N tokens (0: off)")
      ->capture_default_str();
  app.add_option("--overlong-penalty-factor", o.overlong_penalty_factor, "its weight")
      ->capture_default_str();
  app.add_option("--time-budget", o.time_budget, "stop after this many seconds (0: none)")
      ->capture_default_str();
  app.add_option("--save-every", o.save_every, "checkpoint every N steps (and at the end)")
      ->capture_default_str();
  app.add_option("--keep-last", o.keep_last, "checkpoints kept")->capture_default_str();
  app.add_flag("--no-charts", no_charts, "skip the gnuplot charts");
  app.add_option("-t,--threads", threads, "threads (default: physical cores)");
  app.add_flag("-q,--quiet", o.quiet, "no progress lines");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  o.epsilon_high = eps_high >= 0 ? eps_high : o.epsilon;
  if (scale_rewards == "true" || scale_rewards == "1") o.scale_rewards = true;
  else if (scale_rewards == "false" || scale_rewards == "0") o.scale_rewards = false;
  else {
    std::fprintf(stderr, "r1 grpo: --scale_rewards: expected true or false, got '%s'\n",
                 scale_rewards.c_str());
    return 2;
  }
  if (task_name.empty() == data.empty()) {
    std::fprintf(stderr, "r1 grpo: give exactly one of --task NAME or --data FILE\n");
    return 2;
  }
  if (!std::filesystem::is_regular_file(o.model + "/config.json")) {
    std::fprintf(stderr, "r1 grpo: --model %s: not an HF directory (no config.json)\n",
                 o.model.c_str());
    return 2;
  }

  // Rewards.
  const rewards::RewardSet set = rewards::RewardSet::with_defaults();
  const std::vector<std::string> names = split_csv(reward_funcs);
  const std::vector<std::string> wtxt = split_csv(reward_weights);
  if (names.empty() || (!wtxt.empty() && wtxt.size() != names.size())) {
    std::fprintf(stderr, "r1 grpo: --reward-weights: %zu weights for %zu reward functions\n",
                 wtxt.size(), names.size());
    return 2;
  }
  // Task problems by prompt, so the accuracy reward can use the task's own checker (countdown
  // accepts any valid expression, not just the canonical answer).
  auto problems = std::make_shared<std::map<std::string, task::Problem>>();
  auto mu = std::make_shared<std::mutex>();
  std::vector<train::GrpoReward> rw;
  for (size_t i = 0; i < names.size(); ++i) {
    train::GrpoReward r;
    r.name = names[i];
    if (!wtxt.empty()) {
      char* end = nullptr;
      r.weight = std::strtod(wtxt[i].c_str(), &end);
      if (end == wtxt[i].c_str() || *end != 0) {
        std::fprintf(stderr, "r1 grpo: --reward-weights: '%s' is not a number\n", wtxt[i].c_str());
        return 2;
      }
    }
    const rewards::RewardFn* fn = set.find(names[i]);
    if (!fn) {
      std::string known;
      for (const auto& n : set.names()) known += (known.empty() ? "" : ", ") + n;
      std::fprintf(stderr, "r1 grpo: --reward-funcs: unknown reward '%s' (known: %s)\n",
                   names[i].c_str(), known.c_str());
      return 2;
    }
    if (names[i] == "accuracy" && !task_name.empty()) {
      r.fn = [problems, mu](std::string_view prompt, std::string_view completion,
                            std::string_view gold) -> float {
        std::lock_guard<std::mutex> lock(*mu);
        auto it = problems->find(std::string(prompt));
        const task::Problem* p = it == problems->end() ? nullptr : &it->second;
        return rewards::answer_correct(prompt, completion, gold, p) ? 1.0f : 0.0f;
      };
    } else {
      r.fn = *fn;
    }
    rw.push_back(std::move(r));
  }

  // Prompts.
  std::function<train::GrpoPrompt(int64_t)> prompt_at;
  if (!task_name.empty()) {
    task::TaskRng probe(0);
    auto first = task::draw_problem(task_name, level, probe);
    if (!first.ok()) {
      std::fprintf(stderr, "r1 grpo: --task: %s\n", first.message().c_str());
      return 2;
    }
    const uint64_t seed = o.seed;
    prompt_at = [task_name, level, seed, problems, mu](int64_t i) {
      task::TaskRng rng(mix64(seed, uint64_t(i)));
      for (;;) {  // train split only: held-out prompts never reach RL
        auto p = task::draw_problem(task_name, level, rng);
        if (!p.ok() || task::is_test_prompt(p->prompt)) continue;
        std::lock_guard<std::mutex> lock(*mu);
        (*problems)[p->prompt] = *p;
        return train::GrpoPrompt{p->prompt, p->answer};
      }
    };
  } else {
    std::ifstream f(data);
    if (!f) {
      std::fprintf(stderr, "r1 grpo: --data %s: cannot read\n", data.c_str());
      return 2;
    }
    auto rows = std::make_shared<std::vector<train::GrpoPrompt>>();
    std::string line;
    int64_t ln = 0;
    while (std::getline(f, line)) {
      ++ln;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (!j.is_object() || !j.contains("prompt") || !j["prompt"].is_string()) {
        std::fprintf(stderr, "r1 grpo: %s:%lld: expected {\"prompt\": string, \"answer\": ...}\n",
                     data.c_str(), (long long)ln);
        return 2;
      }
      std::string gold;
      for (const char* k : {"answer", "gold", "solution"})
        if (j.contains(k)) {
          gold = j[k].is_string() ? j[k].get<std::string>() : j[k].dump();
          break;
        }
      rows->push_back({j["prompt"].get<std::string>(), gold});
    }
    if (rows->empty()) {
      std::fprintf(stderr, "r1 grpo: --data %s: no prompts\n", data.c_str());
      return 2;
    }
    const uint64_t seed = o.seed;
    prompt_at = [rows, seed](int64_t i) {
      // Epoch e visits the rows in a seeded order: index by a per-epoch hash permutation key.
      const int64_t n = int64_t(rows->size());
      const int64_t e = i / n, k = i % n;
      return (*rows)[size_t((k * 2654435761LL + int64_t(mix64(seed, uint64_t(e)) % uint64_t(n))) %
                            n)];
    };
  }

  const int n = threads > 0 ? threads : default_threads();
  openblas_set_num_threads(n);
  ThreadPool pool(n);
  auto r = train::run_grpo(o, prompt_at, rw, pool, stdout);
  if (!r.ok()) {
    std::fprintf(stderr, "r1 grpo: %s\n", r.message().c_str());
    return 1;
  }
  if (!no_charts) {
    auto c = write_charts(o.out);
    if (c.ok())
      std::printf("charts: %s/{reward,accuracy,completion_len}.png\n", c->c_str());
    else
      std::fprintf(stderr, "r1 grpo: charts skipped: %s\n", c.message().c_str());
  }
  return 0;
}

}  // namespace r1::cli
