// The subcommands of the r1 binary: one file each under src/cli/, listed in main.cpp.
#pragma once

namespace r1::cli {

/// A subcommand entry point: argv[0] is the subcommand name. Returns the process exit code.
using CommandFn = int (*)(int argc, char** argv);

int cmd_inspect(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_tokenizer(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_imatrix(int argc, char** argv);
int cmd_init_model(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_template(int argc, char** argv);
int cmd_verify(int argc, char** argv);
int cmd_task(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_pretrain(int argc, char** argv);
int cmd_grpo(int argc, char** argv);
int cmd_sft(int argc, char** argv);
int cmd_distill(int argc, char** argv);
int cmd_zero(int argc, char** argv);
}  // namespace r1::cli
