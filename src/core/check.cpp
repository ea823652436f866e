#include "core/check.h"

namespace r1 {

void check_failed(const char* file, int line, const char* cond, const std::string& msg) {
  throw CheckError(fmt::format("internal check failed at {}:{}: {}{}{}", file, line, cond,
                               msg.empty() ? "" : ": ", msg));
}

}  // namespace r1
