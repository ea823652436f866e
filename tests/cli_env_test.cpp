// Environment defaults for the CLI integration tests, set before main(): the built r1 binary
// and the source tree, so the tests run the same under ctest and when started by hand.
// (ctest's ENVIRONMENT property also sets them; values already set are kept.)
#include <cstdlib>

namespace {
const bool kEnvSet = [] {
  setenv("R1_BIN", R1_BIN_DEFAULT, 0);
  setenv("R1_SOURCE_DIR", R1_SOURCE_DIR, 0);
  return true;
}();
}  // namespace
