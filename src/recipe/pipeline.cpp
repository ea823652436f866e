#include "recipe/pipeline.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/storage.h"
#include "task/chat_template.h"

namespace r1::recipe {
namespace {

namespace fs = std::filesystem;
using Clock = Pipeline::Clock;

volatile sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

}  // namespace

void install_interrupt_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

bool interrupted() { return g_interrupted != 0; }

std::string format_duration(double s) {
  if (s < 0) s = 0;
  const long t = std::lround(s);
  if (t >= 3600) return fmt::format("{}h{:02}m{:02}s", t / 3600, (t / 60) % 60, t % 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

Result<void> write_json_file(const std::string& path, const json& j) {
  const std::string text = j.dump(2) + "\n";
  return write_file_atomic(path, text.data(), text.size());
}

std::optional<json> read_json_file(const std::string& path) {
  std::ifstream f(path);
  if (!f) return std::nullopt;
  auto j = json::parse(f, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string latest_checkpoint_dir(const std::string& out) {
  std::error_code ec;
  long best = -1;
  std::string path;
  if (!fs::is_directory(out, ec)) return "";
  for (const auto& e : fs::directory_iterator(out, ec)) {
    const std::string n = e.path().filename().string();
    if (!e.is_directory() || n.rfind("checkpoint-", 0) != 0) continue;
    char* end = nullptr;
    const long step = std::strtol(n.c_str() + 11, &end, 10);
    if (end == n.c_str() + 11 || *end != 0) continue;
    if (!fs::exists(e.path() / "config.json", ec)) continue;
    if (step > best) best = step, path = e.path().string();
  }
  return path;
}

Result<void> write_chat_template(const std::string& dir) {
  const std::string path = dir + "/tokenizer_config.json";
  json cfg = json{{"eos_token", kEos}};
  if (fs::exists(path)) {
    auto j = read_json_file(path);
    if (!j || !j->is_object()) return make_error("{}: not a JSON object", path);
    cfg = std::move(*j);
  }
  if (cfg.contains("chat_template") && cfg["chat_template"] == task::kChatTemplate) return {};
  cfg["chat_template"] = std::string(task::kChatTemplate);
  return write_json_file(path, cfg);
}

Result<void> export_model(const std::string& ckpt, const std::string& dst) {
  std::error_code ec;
  const std::string tmp = dst + ".tmp";
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return make_error("{}: cannot create: {}", tmp, ec.message());
  for (const auto& e : fs::directory_iterator(ckpt, ec)) {
    const std::string n = e.path().filename().string();
    if (!e.is_regular_file() || n.rfind("optimizer", 0) == 0 || n == "trainer_state.json") continue;
    fs::copy_file(e.path(), fs::path(tmp) / n, fs::copy_options::overwrite_existing, ec);
    if (ec) return make_error("{}: cannot copy to {}: {}", e.path().string(), tmp, ec.message());
  }
  R1_TRY(write_chat_template(tmp));
  fs::remove_all(dst, ec);
  fs::rename(tmp, dst, ec);
  if (ec) return make_error("{}: cannot rename to {}: {}", tmp, dst, ec.message());
  return {};
}

Pipeline::Pipeline(std::string dir, Profile p, int threads, int n_stages)
    : dir_(std::move(dir)), p_(std::move(p)), threads_(threads), n_stages_(n_stages) {}

double Pipeline::elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

std::string Pipeline::marker(const std::string& id) const { return dir_ + "/.done/" + id + ".json"; }

std::optional<json> Pipeline::done(const std::string& id) const { return read_json_file(marker(id)); }

double Pipeline::stage_seconds(const std::string& id) const {
  auto m = done(id);
  return m && (*m)["seconds"].is_number() ? (*m)["seconds"].get<double>() : 0.0;
}

bool Pipeline::has_command(const std::string& name) { return help(name).has_value(); }

bool Pipeline::has_flag(const std::string& name, const std::string& flag) {
  auto h = help(name);
  return h && h->find(" " + flag) != std::string::npos;
}

int Pipeline::run_child(const std::string& id, const std::vector<std::string>& args) {
  std::error_code ec;
  fs::create_directories(dir_ + "/logs", ec);
  std::ofstream log(dir_ + "/logs/" + id + ".log", std::ios::app);
  std::string cmdline = "r1";
  for (const auto& a : args) cmdline += " " + (a.find(' ') != std::string::npos ? "'" + a + "'" : a);
  log << "$ " << cmdline << "\n";
  emit(id, "$ " + cmdline + "\n");
  int fds[2];
  if (pipe(fds) != 0) return 1;
  const pid_t pid = fork();
  if (pid < 0) return 1;
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[1]);
    std::vector<char*> av;
    av.push_back(const_cast<char*>("r1"));
    for (const auto& a : args) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    execv(self_.c_str(), av.data());
    std::fprintf(stderr, "exec %s failed: %s\n", self_.c_str(), std::strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  std::string pending;
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    log.write(buf, n);
    log.flush();
    emit(id, std::string(buf, size_t(n)));
  }
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  if (!line_start_) emit(id, "\n");
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}


std::optional<std::string> Pipeline::help(const std::string& name) {
  auto it = help_.find(name);
  if (it != help_.end()) return it->second;
  int fds[2];
  if (pipe(fds) != 0) return std::nullopt;
  const pid_t pid = fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], 1);
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    execl(self_.c_str(), "r1", name.c_str(), "--help", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, size_t(n));
  }
  close(fds[0]);
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  std::optional<std::string> r;
  if (WIFEXITED(st) && WEXITSTATUS(st) == 0) r = text;
  help_[name] = r;
  return r;
}


void Pipeline::emit(const std::string& id, const std::string& text) {
  std::string out;
  const std::string prefix =
      fmt::format("[zero {}/{} {} +{}] ", stage_index_, n_stages_, id, format_duration(elapsed()));
  for (char c : text) {
    if (line_start_ && c != '\n' && c != '\r') {
      out += prefix;
      line_start_ = false;
    }
    out += c;
    if (c == '\n' || c == '\r') line_start_ = true;
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
}

void Pipeline::say(const std::string& id, const std::string& line) { emit(id, line + "\n"); }

bool run_stage(Pipeline& pl, int index, const std::string& id, const std::string& title,
               const std::function<StageResult()>& body) {
  pl.set_stage_index(index);
  if (auto m = pl.done(id)) {
    const double s = (*m)["seconds"].is_number() ? (*m)["seconds"].get<double>() : 0.0;
    pl.say(id, fmt::format("{}: done earlier ({}), skipping", title, format_duration(s)));
    pl.records().push_back({id, "resumed", s, ""});
    return true;
  }
  pl.say(id, "== " + title);
  const auto t = Clock::now();
  StageResult r = body();
  const double s = std::chrono::duration<double>(Clock::now() - t).count();
  if (interrupted()) {
    pl.say(id, "interrupted: rerun the same command to resume from this stage");
    return false;
  }
  if (r.rc < 0) {
    pl.say(id, fmt::format("stage {} unavailable: {}", id, r.note));
    pl.records().push_back({id, "skipped", s, r.note});
    return true;
  }
  if (r.rc > 0) {
    pl.say(id, fmt::format("stage {} failed (exit {}){}; see {}/logs/{}.log", id, r.rc,
                           r.note.empty() ? "" : ": " + r.note, pl.dir(), id));
    pl.records().push_back({id, "failed", s, r.note});
    return false;
  }
  json m{{"stage", id}, {"seconds", s}, {"note", r.note}};
  std::error_code ec;
  fs::create_directories(pl.dir() + "/.done", ec);
  if (auto w = write_json_file(pl.marker(id), m); !w.ok()) {
    pl.say(id, "cannot write done-marker: " + w.message());
    return false;
  }
  pl.say(id, fmt::format("{}: finished in {}", title, format_duration(s)));
  pl.records().push_back({id, "done", s, r.note});
  return true;
}

}  // namespace r1::recipe
