// `r1 task gen|corpus`: the embedded reasoning task's problems (JSONL, train or held-out test
// split) and its base pretraining corpus (documents mixing bare answers, think traces with slips,
// `wait` fixes and `check` passages).
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "task/task.h"

namespace r1::cli {
namespace {

// Opens `path` for writing ("-" = stdout). Returns nullptr after printing an error.
std::ostream* open_out(const std::string& path, std::ofstream& f) {
  if (path == "-") return &std::cout;
  f.open(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "r1 task: %s: cannot write\n", path.c_str());
    return nullptr;
  }
  return &f;
}

bool ends_with(const std::string& s, const std::string& suf) {
  return s.size() >= suf.size() && s.compare(s.size() - suf.size(), suf.size(), suf) == 0;
}

}  // namespace

int cmd_task(int argc, char** argv) {
  CLI::App app{"The embedded reasoning task: generate problems (gen) or a base pretraining corpus (corpus).", "task"};
  app.require_subcommand(1);
  std::string name = "arith", out = "-", split = "train";
  int64_t n = 100;
  uint64_t seed = 0;
  int level = 0, threads = 0;
  task::CorpusOptions co;
  std::string families = "task family: arith, linear, countdown";

  auto* gen = app.add_subcommand("gen", "write N problems as JSONL {prompt, answer, family, level, split, solution}");
  auto* corpus = app.add_subcommand("corpus", "write N pretraining documents (train problems only): .txt one per line, .jsonl {\"text\"}");
  for (auto* sc : {gen, corpus}) {
    sc->add_option("--name", name, families)->capture_default_str();
    sc->add_option("--n", n, "number of problems / documents")->capture_default_str()->check(number_at_least(1));
    sc->add_option("--seed", seed, "random seed (same seed, same output)")->capture_default_str();
    sc->add_option("--level", level, "difficulty: 0 = default mix (2-3 digit +/-, 2-digit x 1-digit), 1..4 harder")
        ->capture_default_str()
        ->check(number_in(0, 4));
    sc->add_option("--out", out, "output file ('-' = stdout)")->capture_default_str();
    add_threads_option_single(*sc, threads, "generating");
  }
  gen->add_option("--split", split, "train, or test (held-out problems: never in train or the corpus)")
      ->capture_default_str()
      ->check(CLI::IsMember({"train", "test"}));
  corpus->add_option("--think-share", co.think_share, "share of documents with a <think> trace")->capture_default_str()->check(number_in(0, 1));
  corpus->add_option("--p-slip", co.p_slip, "per-step probability of an off-by-one slip")->capture_default_str()->check(number_in(0, 1));
  corpus->add_option("--p-wait", co.p_wait, "probability that a slip is followed by 'wait <fix>'")->capture_default_str()->check(number_in(0, 1));
  corpus->add_option("--check-share", co.check_share, "share of think traces ending with a check passage")->capture_default_str()->check(number_in(0, 1));
  corpus->add_option("--bare-right-easy", co.bare_right_easy, "bare answers right on easy problems")->capture_default_str()->check(number_in(0, 1));
  corpus->add_option("--bare-right-hard", co.bare_right_hard, "bare answers right on hard problems")->capture_default_str()->check(number_in(0, 1));
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  std::ofstream f;
  if (gen->parsed()) {
    auto problems = task::generate(name, n, seed, split == "test" ? task::Split::Test : task::Split::Train, level);
    if (!problems.ok()) {
      std::fprintf(stderr, "r1 task gen: %s\n", problems.message().c_str());
      return 2;
    }
    std::ostream* os = open_out(out, f);
    if (!os) return 1;
    for (const auto& p : *problems) {
      nlohmann::ordered_json j;
      j["prompt"] = p.prompt;
      j["answer"] = p.answer;
      j["family"] = p.family;
      j["level"] = p.level;
      j["split"] = split;
      j["solution"] = task::correct_trace(p);
      if (p.family == "countdown") {
        j["numbers"] = p.numbers;
        j["target"] = p.target;
      }
      *os << j.dump() << '\n';
    }
    os->flush();
    if (!*os) {
      std::fprintf(stderr, "r1 task gen: %s: write failed\n", out.c_str());
      return 1;
    }
    std::fprintf(stderr, "r1 task gen: %lld %s problems (%s split, level %d, seed %llu)\n", static_cast<long long>(n),
                 name.c_str(), split.c_str(), level, static_cast<unsigned long long>(seed));
    return 0;
  }

  co.level = level;
  auto c = task::generate_corpus(name, n, seed, co);
  if (!c.ok()) {
    std::fprintf(stderr, "r1 task corpus: %s\n", c.message().c_str());
    return 2;
  }
  std::ostream* os = open_out(out, f);
  if (!os) return 1;
  const bool jsonl = ends_with(out, ".jsonl");
  for (const auto& d : c->documents) {
    if (jsonl) {
      *os << nlohmann::json{{"text", d}}.dump() << '\n';
    } else {
      *os << d << '\n';
    }
  }
  os->flush();
  if (!*os) {
    std::fprintf(stderr, "r1 task corpus: %s: write failed\n", out.c_str());
    return 1;
  }
  int64_t think = 0, wait = 0, check = 0, correct = 0;
  for (const auto& s : c->solutions) {
    think += s.think;
    wait += s.wait;
    check += s.check;
    correct += s.correct;
  }
  const double N = static_cast<double>(c->documents.size());
  std::fprintf(stderr, "r1 task corpus: %lld %s documents: think %.3f, wait %.3f, check %.3f, correct %.3f\n",
               static_cast<long long>(n), name.c_str(), think / N, wait / N, check / N, correct / N);
  return 0;
}

}  // namespace r1::cli
