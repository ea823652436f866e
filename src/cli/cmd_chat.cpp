// `r1 chat MODEL`: interactive chat (filled in when the chat template lands).
#include <cstdio>

#include "cli/commands.h"

namespace r1::cli {

int cmd_chat(int /*argc*/, char** /*argv*/) {
  std::fprintf(stderr, "r1 chat: not implemented yet\n");
  return 1;
}

}  // namespace r1::cli
