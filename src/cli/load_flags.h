// --mmap / --no-mmap: how a subcommand that loads a checkpoint brings it into memory (the names
// llama.cpp uses). Both set the process-wide r1::LoadMode (core/storage.h); neither given means
// LoadMode::Auto (other commands keep the process default, Mmap).
#pragma once
#include <CLI/CLI.hpp>

namespace r1::cli {

/// Sets LoadMode::Auto and adds the two flags to `app` (mutually exclusive).
void add_load_flags(CLI::App& app);

}  // namespace r1::cli
