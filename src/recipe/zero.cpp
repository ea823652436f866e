#include "recipe/zero.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "models/init_model.h"

namespace r1::recipe {

const std::vector<ModelRow>& model_rows() {
  static const std::vector<ModelRow> rows = {
      {"base", "pretrained base (DeepSeek-V3 arch)", "deepseek_v3"},
      {"base-more", "control: base + GRPO's time of more pretraining", "deepseek_v3"},
      {"r1-zero", "R1-Zero: GRPO from the base", "deepseek_v3"},
      {"student-base", "student architecture pretrained on the base corpus", "qwen2"},
      {"student-grpo", "control: student base + distill's time of GRPO", "qwen2"},
      {"student", "student: distilled from R1-Zero's verified traces", "qwen2"},
  };
  return rows;
}

namespace {

namespace fs = std::filesystem;

/// Prints the final table, stage times, where the charts and models are and how to talk to them;
/// writes DIR/results.json. Returns 0.
int report_zero(Pipeline& pl, bool quick) {
  const std::string& out = pl.dir();
  json models = json::object();
  std::printf("\nr1 zero: held-out arith problems, level %d (%s profile)\n", pl.profile().level,
              pl.profile().name.c_str());
  std::printf("%-13s %-11s %7s %7s %7s %8s %6s %6s  %s\n", "model", "arch", "pass@1", "cons@k", "pass@k",
              "mean_tok", "think", "check", "what");
  for (const auto& row : model_rows()) {
    json m{{"what", row.what}, {"arch", row.arch}};
    const std::string dir = out + "/models/" + row.name;
    if (fs::exists(dir + "/config.json")) {
      m["hf_dir"] = dir;
      // Models exported by a run made before they carried the template get it on resume.
      if (auto w = write_chat_template(dir); !w.ok()) std::fprintf(stderr, "r1 zero: %s\n", w.message().c_str());
    }
    const std::string gguf = out + "/gguf/" + row.name + ".gguf";
    if (fs::exists(gguf)) m["gguf"] = gguf;
    auto r = read_json_file(out + "/eval/" + row.name + "/results.json");
    if (r) {
      for (const char* k : {"n_problems", "k", "pass@1", "cons@k", "pass@k", "mean_completion_tokens", "think_share",
                            "check_share", "wait_share", "format_share"})
        if (r->contains(k)) m[k] = (*r)[k];
      auto num = [&](const char* k) { return m.contains(k) && m[k].is_number() ? m[k].get<double>() : NAN; };
      std::printf("%-13s %-11s %7.1f %7.1f %7.1f %8.1f %6.2f %6.2f  %s\n", row.name.c_str(), row.arch.c_str(),
                  100 * num("pass@1"), 100 * num("cons@k"), 100 * num("pass@k"), num("mean_completion_tokens"),
                  num("think_share"), num("check_share"), row.what.c_str());
    } else {
      std::printf("%-13s %-11s %7s %7s %7s %8s %6s %6s  %s\n", row.name.c_str(), row.arch.c_str(), "-", "-", "-", "-",
                  "-", "-", (row.what + " (not evaluated)").c_str());
    }
    models[row.name] = m;
  }
  std::printf("(pass@1: %% correct over k=%lld samples per problem at T=0.6, top-p 0.95; cons@k: majority vote; "
              "check: share of answers with a self-check)\n", static_cast<long long>(pl.profile().eval_k));

  // The acceptance checks of the default profile (reported, not enforced: --quick only proves the
  // stages run).
  auto get = [&](const char* model, const char* key) {
    return models[model].contains(key) && models[model][key].is_number() ? models[model][key].get<double>() : NAN;
  };
  json checks{{"r1_zero_pass1_gain_points", 100 * (get("r1-zero", "pass@1") - get("base", "pass@1"))},
              {"r1_zero_beats_base_by_20_points", get("r1-zero", "pass@1") >= get("base", "pass@1") + 0.20},
              {"student_above_base", get("student", "pass@1") > get("base", "pass@1")},
              {"r1_zero_longer_than_base",
               get("r1-zero", "mean_completion_tokens") > get("base", "mean_completion_tokens")},
              {"r1_zero_beats_more_pretraining", get("r1-zero", "pass@1") > get("base-more", "pass@1")},
              {"distill_beats_student_grpo", get("student", "pass@1") > get("student-grpo", "pass@1")}};
  for (auto& [k, v] : checks.items())
    if (v.is_number_float() && std::isnan(v.get<double>())) v = nullptr;

  std::printf("\nstage times:\n");
  json stages = json::array();
  double total = 0;
  for (const auto& r : pl.records()) {
    std::printf("  %-20s %-8s %9s%s\n", r.id.c_str(), r.status.c_str(), format_duration(r.seconds).c_str(),
                r.note.empty() ? "" : ("  " + r.note).c_str());
    stages.push_back({{"stage", r.id}, {"status", r.status}, {"seconds", r.seconds}, {"note", r.note}});
    total += r.seconds;
  }
  std::printf("  %-20s %-8s %9s\n", "total", "", format_duration(total).c_str());

  json charts = json::array();
  for (const char* c : {"reward", "accuracy", "completion_len"}) {
    const std::string p = out + "/charts/" + std::string(c) + ".png";
    if (fs::exists(p)) charts.push_back(p);
  }
  json res{{"profile", pl.profile().name}, {"out", out},   {"task", "arith"}, {"level", pl.profile().level}, {"eval_k", pl.profile().eval_k},
           {"eval_n", pl.profile().eval_n}, {"models", models}, {"checks", checks}, {"stages", stages},
           {"total_seconds", total},       {"charts", charts}};
  if (auto w = write_json_file(out + "/results.json", res); !w.ok()) {
    std::fprintf(stderr, "r1 zero: %s\n", w.message().c_str());
    return 1;
  }
  std::printf("\nwrote %s/results.json\n", out.c_str());
  if (!charts.empty())
    std::printf("RL curves (reward, accuracy, response length): %s/charts/{reward,accuracy,completion_len}.png\n",
                out.c_str());
  const std::string student = out + "/models/student";
  const std::string talk = fs::exists(student + "/config.json") ? student : out + "/models/r1-zero";
  std::printf("\ntalk to the models (raw prompts look like Q:47+58=?A:; chat puts 47+58 into that form):\n");
  std::printf("  r1 run %s -p 'Q:47+58=?A:'\n", talk.c_str());
  std::printf("  echo '47+58' | r1 chat %s\n", talk.c_str());
  std::printf("  r1 serve %s   (OpenAI-compatible API)\n", talk.c_str());
  if (fs::exists(out + "/gguf/student.gguf"))
    std::printf("  r1 run %s/gguf/student.gguf -p 'Q:36*7=?A:'   (the GGUF file; llama.cpp loads it too)\n",
                out.c_str());
  std::printf("models: %s/models/NAME (HF directories), %s/gguf/NAME.gguf; `r1 run`/`r1 chat` with no model use "
              "the student\n", out.c_str(), out.c_str());
  (void)quick;
  return 0;
}

}  // namespace

std::vector<Stage> zero_stages(ZeroRun& run) {
  // The bodies outlive this call: they capture copies of the paths and the profile, and the
  // pipeline by pointer.
  Pipeline* pl = &run.pl;
  const Profile P = run.pl.profile();
  const std::string out = run.out, M = run.models, tok = run.tok, corpus = run.corpus, T = run.threads;
  std::vector<Stage> stages;
  // Trains with `args` into OUT_SUB and exports the newest checkpoint as models/NAME.
  auto train_and_export = [=](const std::string& id, std::vector<std::string> args, const std::string& sub,
                              const std::string& name) -> StageResult {
    if (int rc = pl->run_child(id, args); rc != 0) return {rc, ""};
    const std::string ck = latest_checkpoint_dir(sub);
    if (ck.empty()) return {1, "no checkpoint-STEP/ in " + sub};
    if (auto e = export_model(ck, M + "/" + name); !e.ok()) return {1, e.message()};
    pl->say(id, "model: " + M + "/" + name + " (from " + ck + ")");
    return {};
  };
  const std::string pt_batch = std::to_string(P.pt_batch), pt_seq = std::to_string(P.pt_seq);
  auto pretrain_args = [=](std::vector<std::string> a, int64_t steps, double lr, int64_t warmup) {
    for (const std::string& s :
         {std::string("--tokenizer"), tok, std::string("--data"), corpus, std::string("--steps"),
          std::to_string(steps), std::string("--batch"), pt_batch, std::string("--seq-len"), pt_seq,
          std::string("--lr"), fmt::format("{}", lr), std::string("--min-lr"), fmt::format("{}", P.pt_min_lr),
          std::string("--warmup"), std::to_string(warmup), std::string("--save-every"),
          std::to_string(std::max<int64_t>(steps / 4, 10)), std::string("--keep-last"), std::string("1"),
          std::string("-t"), T, std::string("--resume")})
      a.push_back(s);
    return a;
  };
  auto grpo_args = [=](const std::string& model, const std::string& sub, int64_t steps, double budget) {
    return std::vector<std::string>{
        "grpo", "--model", model, "--task", "arith", "--level", std::to_string(P.level), "--out", sub, "--steps", std::to_string(steps),
        "--prompts-per-step", std::to_string(P.grpo_prompts), "--num_generations", std::to_string(P.grpo_g),
        "--max_completion_length", std::to_string(P.grpo_max_len), "--temperature", "1.0",
        "--learning_rate", "1e-4", "--beta", "0", "--epsilon", "0.2", "--epsilon_high", "0.28",
        "--loss_type", "dapo", "--reward-funcs", "accuracy,format", "--reward-weights", "1,0.2",
        "--time-budget", fmt::format("{:.0f}", std::max(budget, 1.0)), "--save-every",
        std::to_string(std::max<int64_t>(steps / 4, 5)), "--keep-last", "1", "-t", T, "--resume"};
  };

  // 1-2. Data and tokenizer.
  stages.push_back({"corpus", "base corpus (r1 task corpus)", "task", {}, [=]() -> StageResult {
    std::error_code ec;
    fs::create_directories(out + "/data", ec);
    return {pl->run_child("corpus", {"task", "corpus", "--name", "arith", "--n", std::to_string(P.corpus_docs),
                                    "--seed", "1", "--level", std::to_string(P.level), "--out", corpus}),
            ""};
  }});
  stages.push_back({"tokenizer", "byte-level BPE (r1 tokenizer train)", "tokenizer", {}, [=]() -> StageResult {
    std::error_code ec;
    fs::create_directories(out + "/tokenizer", ec);
    return {pl->run_child("tokenizer", {"tokenizer", "train", "--data", corpus, "--vocab-size", std::to_string(P.vocab),
                                       "--out", tok, "--special", kEos, "--eos", kEos}),
            ""};
  }});
  // 3-4. Base models.
  stages.push_back({"base", "DeepSeek-V3-architecture base (r1 pretrain)", "pretrain", {}, [=]() -> StageResult {
    const std::string init = out + "/base/init";
    if (!fs::exists(init + "/model.safetensors")) {
      const auto cfg = nlohmann::json::parse(base_config(P).dump());
      if (auto w = models::write_random_deepseek_v3(cfg, init, 1); !w.ok()) return {1, w.message()};
      pl->say("base", "random DeepSeek-V3 init: " + init + "/config.json");
    }
    return train_and_export("base", pretrain_args({"pretrain", "--init-from", init, "--out", out + "/base/train",
                                                   "--mtp-weight", fmt::format("{}", P.base_mtp_weight), "--router-bias-rate", "1e-3"},
                                                  P.base_steps, P.pt_lr, P.pt_warmup),
                            out + "/base/train", "base");
  }});
  stages.push_back({"student-base", "Qwen2-architecture student base (r1 pretrain)", "pretrain", {}, [=]() -> StageResult {
    std::error_code ec;
    fs::create_directories(out + "/student-base", ec);
    const std::string cfg = out + "/student-base/config.json";
    if (auto w = write_json_file(cfg, student_config(P)); !w.ok()) return {1, w.message()};
    return train_and_export("student-base", pretrain_args({"pretrain", "--model-config", cfg, "--out",
                                                           out + "/student-base/train"},
                                                          P.st_steps, P.pt_lr, P.pt_warmup),
                            out + "/student-base/train", "student-base");
  }});
  // 5. R1-Zero.
  stages.push_back({"r1-zero", "R1-Zero: GRPO from the base (r1 grpo)", "grpo", {"base"}, [=]() -> StageResult {
    std::error_code ec;
    StageResult r = train_and_export("r1-zero", grpo_args(M + "/base", out + "/r1-zero/train", P.grpo_steps,
                                                          P.grpo_time_budget),
                                     out + "/r1-zero/train", "r1-zero");
    if (r.rc == 0) {
      const std::string charts = out + "/r1-zero/train/charts";
      fs::create_directories(out + "/charts", ec);
      for (const char* c : {"reward", "accuracy", "completion_len"}) {
        const std::string src = charts + "/" + c + ".png";
        if (fs::exists(src)) fs::copy_file(src, out + "/charts/" + c + ".png", fs::copy_options::overwrite_existing, ec);
      }
    }
    return r;
  }});
  // 6. Control: the base given GRPO's wall time as more pretraining.
  stages.push_back({"base-more", "control: base + more pretraining for GRPO's time (r1 pretrain)", "pretrain", {"base"}, [=]() -> StageResult {
    // Seconds per step from the base's own metrics, not from the stage's wall time, which covers
    // only the last run of a resumed stage: tokens_per_s is wall-clock since its run started
    // (checkpoints included), so the last line's value is that run's rate.
    const double grpo_s = pl->stage_seconds("r1-zero");
    double tps = 0;
    std::ifstream mf(out + "/base/train/metrics.jsonl");
    for (std::string line; std::getline(mf, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("tokens_per_s") && j["tokens_per_s"].is_number()) tps = j["tokens_per_s"].get<double>();
    }
    if (grpo_s <= 0 || tps <= 0) return {-1, "needs the GRPO stage's time and the base's metrics.jsonl"};
    const double s_per_step = double(P.pt_batch * P.pt_seq) / tps;
    const int64_t steps = std::max<int64_t>(1, std::llround(grpo_s / s_per_step));
    pl->say("base-more", fmt::format("{} more steps ~ {} of GRPO at the base's {:.3f} s/step", steps,
                                    format_duration(grpo_s), s_per_step));
    return train_and_export("base-more", pretrain_args({"pretrain", "--init-from", M + "/base", "--out",
                                                        out + "/base-more/train", "--mtp-weight",
                                                        fmt::format("{}", P.base_mtp_weight)},
                                                       steps, P.pt_min_lr * 3, 1),
                            out + "/base-more/train", "base-more");
  }});
  // 7. Distillation of R1-Zero's verified traces into the student.
  stages.push_back({"student", "student: distil R1-Zero's verified traces (r1 distill)", "distill", {"r1-zero", "student-base"}, [=]() -> StageResult {
    std::vector<std::string> args{"distill", "--teacher", M + "/r1-zero", "--student", M + "/student-base", "--task", "arith",
                             "--level", std::to_string(P.level), "--n", std::to_string(P.distill_prompts), "-k", std::to_string(P.distill_k),
                             "--temp", "0.6", "--max-tokens", std::to_string(P.grpo_max_len), "--out",
                             out + "/student/train", "--steps", std::to_string(P.distill_steps), "--lr", "1e-3",
                             "--min-lr", "1e-4", "--warmup", "5", "--batch", "16", "--seq-len", "128",
                             "--save-every", std::to_string(std::max<int64_t>(P.distill_steps / 4, 5)),
                             "--keep-last", "1", "-t", T};
    if (pl->has_flag("distill", "--resume")) args.push_back("--resume");
    StageResult r = train_and_export("student", args, out + "/student/train/student", "student");
    // No verified trace at all (the --quick profile's barely trained teacher): nothing to distil.
    // Reported as unavailable, not faked; the stages that need the student skip too.
    auto st = read_json_file(out + "/student/train/distill_stats.json");
    if (r.rc != 0 && st && st->contains("kept") && (*st)["kept"] == 0)
      return {-1, fmt::format("R1-Zero produced no verified trace to distil ({} samples, {} correct)",
                              st->value("samples", 0), st->value("correct", 0))};
    return r;
  }});
  // 8. Control: the student base given the distillation's time as GRPO.
  stages.push_back({"student-grpo", "control: student base + GRPO for distillation's time (r1 grpo)", "grpo", {"student-base"}, [=]() -> StageResult {
    const double s = pl->stage_seconds("student");
    if (s <= 0) return {-1, "needs the time of stage student"};
    pl->say("student-grpo", "time budget " + format_duration(s) + " (the distill stage's)");
    return train_and_export("student-grpo", grpo_args(M + "/student-base", out + "/student-grpo/train", 100000, s),
                            out + "/student-grpo/train", "student-grpo");
  }});
  // 9. Evaluation of every model on held-out problems.
  for (const auto& row : model_rows()) {
    const std::string id = "eval-" + row.name;
    stages.push_back({id, "evaluate " + row.name + " (r1 eval)", "eval", {row.name}, [=]() -> StageResult {
      return {pl->run_child(id, {"eval", "--model", M + "/" + row.name, "--task", "arith", "--level", std::to_string(P.level), "--n",
                                std::to_string(P.eval_n), "-k", std::to_string(P.eval_k), "--temp", "0.6",
                                "--top-p", "0.95", "--max-tokens", std::to_string(P.eval_max_tokens), "--seed", "7",
                                "-t", T, "--out", out + "/eval/" + row.name}),
              ""};
    }});
  }
  // 10. GGUF files (where `r1 convert` supports the architecture).
  for (const auto& row : model_rows()) {
    const std::string id = "gguf-" + row.name;
    stages.push_back({id, "GGUF of " + row.name + " (r1 convert)", "convert", {row.name}, [=]() -> StageResult {
      std::error_code ec;
      fs::create_directories(out + "/gguf", ec);
      const int rc = pl->run_child(id, {"convert", M + "/" + row.name, "--out", out + "/gguf/" + row.name + ".gguf",
                                       "--type", "f32"});
      if (rc != 0) {  // e.g. a model the converter refuses: reported, the pipeline goes on
        std::ifstream lf(out + "/logs/" + id + ".log");
        std::string line, last;
        while (std::getline(lf, line))
          if (!line.empty()) last = line;
        return {-1, last.empty() ? "r1 convert failed" : last};
      }
      return {};
    }});
  }
  return stages;
}

int run_zero(std::string out, const Profile& P, int threads, bool quick) {
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "r1 zero: --out %s: cannot create: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  out = fs::absolute(out).lexically_normal().string();
  if (!out.empty() && out.back() == '/') out.pop_back();
  // A folder holds one profile: resuming a --quick run as a default one would mix model sizes.
  const std::string prof_path = out + "/profile.json";
  if (auto pj = read_json_file(prof_path)) {
    const auto hp = pj->is_object() ? pj->find("profile") : pj->end();
    const std::string had = hp != pj->end() && hp->is_string() ? hp->get<std::string>() : "?";
    if (had != P.name) {
      std::fprintf(stderr, "r1 zero: %s holds a '%s' run; use another --out or delete it to run '%s'\n",
                   out.c_str(), had.c_str(), P.name.c_str());
      return 2;
    }
  } else if (auto w = write_json_file(prof_path, json{{"profile", P.name}}); !w.ok()) {
    std::fprintf(stderr, "r1 zero: %s\n", w.message().c_str());
    return 1;
  }

  install_interrupt_handler();

  const std::string M = out + "/models";
  fs::create_directories(M, ec);
  // The stage count shown in the output prefix: the table's stages plus the final report.
  const int n_stages = 8 + 2 * int(model_rows().size()) + 1;
  Pipeline pl(out, P, threads, n_stages);
  ZeroRun run{pl, out, M, out + "/tokenizer/tokenizer.json", out + "/data/corpus.jsonl", std::to_string(threads)};
  const std::vector<Stage> stages = zero_stages(run);
  std::printf("r1 zero: profile %s -> %s (%d threads per stage)\n", P.name.c_str(), out.c_str(), threads);
  std::fflush(stdout);
  int idx = 0;
  for (const Stage& st : stages) {
    // Unavailable inputs skip the stage (reported in the table), checked in this order.
    auto body = [&]() -> StageResult {
      if (!pl.has_command(st.command)) return {-1, "`r1 " + st.command + "` is not a command of this build"};
      for (const auto& name : st.needs)
        if (!fs::exists(M + "/" + name + "/config.json"))
          return {-1, "its input model " + M + "/" + name + " was not produced"};
      return st.body();
    };
    if (!run_stage(pl, ++idx, st.id, st.title, body)) {
      std::printf("r1 zero: stopped; rerun `r1 zero%s --out %s` to resume from the last finished stage\n",
                  quick ? " --quick" : "", out.c_str());
      return interrupted() ? 130 : 1;
    }
  }
  return report_zero(pl, quick);
}

}  // namespace r1::recipe
