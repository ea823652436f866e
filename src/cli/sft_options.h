// SFT flags shared by `r1 sft` and `r1 distill` (defined in cmd_sft.cpp).
#pragma once
#include <CLI/CLI.hpp>

#include "train/sft.h"

namespace r1::cli {

struct SftFormatFlags {
  bool chat = false, raw = false;
};

/// Adds --steps/--epochs/--lr/... (everything but --model/--data/--out/--resume) to `app`.
void add_sft_options(CLI::App& app, train::SftOptions& o, SftFormatFlags& f);
/// Sets o.format from the flags; returns an exit code (>= 0) after a one-line error, else -1.
int sft_format(const SftFormatFlags& f, train::SftOptions& o, const char* cmd);

}  // namespace r1::cli
