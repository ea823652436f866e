// `r1 inspect PATH`: what a checkpoint holds (filled in by the loaders work).
#include <cstdio>

#include "cli/commands.h"

namespace r1::cli {

int cmd_inspect(int argc, char** /*argv*/) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: r1 inspect PATH\n");
    return 2;
  }
  std::fprintf(stderr, "r1 inspect: not implemented yet\n");
  return 1;
}

}  // namespace r1::cli
