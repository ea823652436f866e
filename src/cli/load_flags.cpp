#include "cli/load_flags.h"

#include "core/storage.h"

namespace r1::cli {

void add_load_flags(CLI::App& app) {
  set_load_mode(LoadMode::Auto);
  auto* mmap = app.add_flag_callback(
      "--mmap", [] { set_load_mode(LoadMode::Mmap); },
      "map the model file instead of copying it (lazy loading, page-cache memory; slower decode)");
  auto* copy = app.add_flag_callback(
      "--no-mmap", [] { set_load_mode(LoadMode::Copy); },
      "copy the model file into memory backed by huge pages (faster decode; default for files "
      "that fit in half of the available memory)");
  mmap->excludes(copy);
}

}  // namespace r1::cli
