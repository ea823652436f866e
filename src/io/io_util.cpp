#include "io/io_util.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <unordered_set>
#include <vector>

namespace r1::io {

namespace {
constexpr int kMaxJsonDepth = 64;

struct JsonDuplicateKey {
  std::string key;
};
struct JsonTooDeep {};
}  // namespace

Result<nlohmann::json> parse_json_strict(std::string_view text, const std::string& label) {
  using json = nlohmann::json;
  std::vector<std::unordered_set<std::string>> seen;  // keys of each open object
  auto callback = [&seen](int depth, json::parse_event_t ev, json& parsed) -> bool {
    if (depth > kMaxJsonDepth) throw JsonTooDeep{};
    switch (ev) {
      case json::parse_event_t::object_start:
        seen.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!seen.empty()) seen.pop_back();
        break;
      case json::parse_event_t::key:
        if (!seen.empty() && parsed.is_string()) {
          const auto& k = parsed.get_ref<const std::string&>();
          if (!seen.back().insert(k).second) throw JsonDuplicateKey{k};
        }
        break;
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), callback, /*allow_exceptions=*/true);
  } catch (const JsonDuplicateKey& d) {
    return make_error("{}: bad JSON: duplicate key \"{}\"", label, d.key);
  } catch (const JsonTooDeep&) {
    return make_error("{}: bad JSON: nested deeper than {} levels", label, kMaxJsonDepth);
  } catch (const json::exception& e) {
    // nlohmann messages are one line: "[json.exception.parse_error.101] parse error at line 1...".
    return make_error("{}: bad JSON: {}", label, e.what());
  }
}

Result<nlohmann::json> read_json_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("{}: cannot open: {}", path, std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return make_error("{}: read failed", path);
  return parse_json_strict(ss.str(), path);
}

Result<AtomicFile> AtomicFile::create(const std::string& path) {
  AtomicFile f;
  f.path_ = path;
  f.tmp_ = path + ".tmp." + std::to_string(::getpid());
  f.f_ = std::fopen(f.tmp_.c_str(), "wb");
  if (!f.f_) return make_error("{}: cannot create: {}", f.tmp_, std::strerror(errno));
  return f;
}

AtomicFile::AtomicFile(AtomicFile&& o) noexcept
    : path_(std::move(o.path_)), tmp_(std::move(o.tmp_)), f_(o.f_), written_(o.written_) {
  o.f_ = nullptr;
}

AtomicFile::~AtomicFile() {
  if (f_) {
    std::fclose(f_);
    std::remove(tmp_.c_str());
  }
}

Result<void> AtomicFile::write(const void* data, size_t size) {
  if (!f_) return make_error("{}: write after commit", path_);
  if (size > 0 && std::fwrite(data, 1, size, f_) != size)
    return make_error("{}: write failed: {}", tmp_, std::strerror(errno));
  written_ += size;
  return {};
}

Result<void> AtomicFile::pad(size_t n) {
  static const char zeros[64] = {};
  while (n > 0) {
    const size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
    R1_TRY(write(zeros, k));
    n -= k;
  }
  return {};
}

Result<void> AtomicFile::commit() {
  if (!f_) return make_error("{}: committed twice", path_);
  const bool ok = std::fflush(f_) == 0 && ::fsync(fileno(f_)) == 0;
  const bool closed = std::fclose(f_) == 0;
  f_ = nullptr;
  if (!ok || !closed) {
    std::remove(tmp_.c_str());
    return make_error("{}: cannot flush to disk: {}", tmp_, std::strerror(errno));
  }
  if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp_.c_str());
    return make_error("{}: cannot rename into place: {}", path_, std::strerror(e));
  }
  return {};
}

}  // namespace r1::io
