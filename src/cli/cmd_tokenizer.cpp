// `r1 tokenizer train`: learn a small byte-level BPE vocabulary from a corpus and write a Hugging
// Face tokenizer.json (plus tokenizer_config.json beside it naming bos/eos).
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/storage.h"
#include "tokenizer/bpe_trainer.h"
#include "tokenizer/tokenizer.h"

namespace r1::cli {

namespace {

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::string item;
  std::stringstream ss(s);
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

int cmd_tokenizer(int argc, char** argv) {
  CLI::App app{"Tokenizer tools.", "r1 tokenizer"};
  app.require_subcommand(1);
  CLI::App* train = app.add_subcommand("train", "learn a byte-level BPE and write tokenizer.json");
  std::string data, out, special, bos, eos;
  tok::BpeTrainerOptions opts;
  train->add_option("--data", data, "corpus: .jsonl with a \"text\" field per line, or a plain text file")
      ->required();
  train->add_option("--vocab-size", opts.vocab_size, "total vocabulary size (specials + 256 bytes + merges)")
      ->required();
  train->add_option("--out", out, "output tokenizer.json path (tokenizer_config.json is written beside it)")
      ->required();
  train->add_option("--special", special, "comma-separated special tokens, e.g. \"<|bos|>,<|eos|>,<think>,</think>\"");
  train->add_option("--bos", bos, "the BOS token (added to the specials if missing)");
  train->add_option("--eos", eos, "the EOS token (added to the specials if missing)");
  train->add_option("--min-frequency", opts.min_frequency, "smallest pair count that is merged")->capture_default_str();
  int threads = 0;
  add_threads_option_single(*train, threads, "training");
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;
  opts.special_tokens = split_list(special);
  opts.bos_token = bos;
  opts.eos_token = eos;

  auto texts = tok::read_training_corpus(data);
  if (!texts.ok()) {
    std::fprintf(stderr, "r1 tokenizer train: %s\n", texts.message().c_str());
    return 1;
  }
  auto trained = tok::train_bpe(*texts, opts);
  if (!trained.ok()) {
    std::fprintf(stderr, "r1 tokenizer train: %s\n", trained.message().c_str());
    return 1;
  }
  if (const auto dir = std::filesystem::path(out).parent_path(); !dir.empty()) {
    std::error_code ec;  // like init-model and pretrain, create the output folder
    std::filesystem::create_directories(dir, ec);
    if (ec) {
      std::fprintf(stderr, "r1 tokenizer train: %s: cannot create: %s\n", dir.c_str(),
                   ec.message().c_str());
      return 1;
    }
  }
  auto w = write_file_atomic(out, trained->tokenizer_json.data(), trained->tokenizer_json.size());
  if (!w.ok()) {
    std::fprintf(stderr, "r1 tokenizer train: %s\n", w.message().c_str());
    return 1;
  }
  const std::string cfg_path = (std::filesystem::path(out).parent_path() / "tokenizer_config.json").string();
  w = write_file_atomic(cfg_path, trained->tokenizer_config_json.data(), trained->tokenizer_config_json.size());
  if (!w.ok()) {
    std::fprintf(stderr, "r1 tokenizer train: %s\n", w.message().c_str());
    return 1;
  }
  // Load it back: the file must be usable by our own loader.
  auto check = tok::Tokenizer::from_tokenizer_json(out);
  if (!check.ok()) {
    std::fprintf(stderr, "r1 tokenizer train: wrote an unreadable tokenizer: %s\n", check.message().c_str());
    return 1;
  }
  std::fprintf(stderr, "r1 tokenizer train: %zu documents, %d merges, vocab %d -> %s (+ %s)\n", texts->size(),
               trained->n_merges, trained->vocab_size, out.c_str(), cfg_path.c_str());
  return 0;
}

}  // namespace r1::cli
