// `r1 bench MODEL`: prefill/decode throughput (filled in next).
#include <cstdio>

#include "cli/commands.h"

namespace r1::cli {

int cmd_bench(int /*argc*/, char** /*argv*/) {
  std::fprintf(stderr, "r1 bench: not implemented yet\n");
  return 1;
}

}  // namespace r1::cli
