// r1: one binary, one subcommand per stage of the DeepSeek-R1 system.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string_view>

#include "cli/commands.h"
#include "core/check.h"

namespace {

struct Command {
  const char* name;
  r1::cli::CommandFn fn;
  const char* help;
};

// Keep in the order a user meets them.
constexpr Command kCommands[] = {
    {"inspect", r1::cli::cmd_inspect, "list the tensors and metadata of a GGUF file or HF model"},
    {"run", r1::cli::cmd_run, "generate text from a prompt (streams the continuation)"},
    {"chat", r1::cli::cmd_chat, "interactive chat in the terminal (reasoning shown dimmed)"},
    {"tokenize", r1::cli::cmd_tokenize, "text <-> token ids with a model's tokenizer (JSON lines)"},
    {"tokenizer", r1::cli::cmd_tokenizer, "tokenizer tools: train a byte-level BPE (tokenizer.json)"},
    {"serve", r1::cli::cmd_serve, "OpenAI-compatible HTTP server with continuous batching"},
    {"bench", r1::cli::cmd_bench, "prefill/decode throughput (pp512/tg128) vs the bandwidth ceiling"},
    {"logits", r1::cli::cmd_logits, "write the logits of every position of --ids as a .npy file"},
    {"perplexity", r1::cli::cmd_perplexity, "perplexity over a text in chunks; KL divergence of a quantisation vs saved base logits"},
    {"imatrix", r1::cli::cmd_imatrix, "importance matrix of a GGUF model over a text (llama.cpp's imatrix GGUF) for convert --imatrix"},
    {"init-model", r1::cli::cmd_init_model, "write a random-weight model at a preset's real shape"},
    {"convert", r1::cli::cmd_convert, "convert an HF model to GGUF (f32/f16/bf16, q8_0..q2_k presets, iq4/iq3/iq2/iq1 with --imatrix)"},
    {"template", r1::cli::cmd_template, "render chat messages with a model's chat template (JSON lines)"},
    {"task", r1::cli::cmd_task, "embedded reasoning task: problems (gen) and base pretraining corpus (corpus)"},
    {"eval", r1::cli::cmd_eval, "R1 evaluation protocol: k samples, pass@1 / cons@k / pass@k on a benchmark or task"},
    {"verify", r1::cli::cmd_verify, "check a predicted math answer against a gold one (true/false)"},
    {"pretrain", r1::cli::cmd_pretrain, "pretrain a model on a text/JSONL corpus (AdamW, checkpoints, --resume)"},
    {"grpo", r1::cli::cmd_grpo, "GRPO reinforcement learning with rule-based rewards (R1-Zero)"},
    {"sft", r1::cli::cmd_sft, "supervised fine-tuning on prompt/completion pairs (prompt tokens masked)"},
    {"distill", r1::cli::cmd_distill, "rejection-sampling distillation: teacher traces, verifier filter, student SFT"},
    {"zero", r1::cli::cmd_zero, "the R1 recipe end to end at toy scale: base, R1-Zero, student, eval (make demo)"},
};

void usage(FILE* out) {
  std::fprintf(out, "usage: r1 COMMAND [options]   (r1 COMMAND --help for its options)\n\ncommands:\n");
  for (const auto& c : kCommands) std::fprintf(out, "  %-12s %s\n", c.name, c.help);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  const std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    usage(stdout);
    return 0;
  }
  for (const auto& c : kCommands) {
    if (name != c.name) continue;
    try {
      return c.fn(argc - 1, argv + 1);
    } catch (const r1::CheckError& e) {
      std::fprintf(stderr, "r1 %s: %s\n", c.name, e.what());
      return 70;
    } catch (const std::bad_alloc&) {
      std::fprintf(stderr, "r1 %s: out of memory\n", c.name);
      return 71;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "r1 %s: error: %s\n", c.name, e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "r1: unknown command '%s'\n", argv[1]);
  usage(stderr);
  return 2;
}
