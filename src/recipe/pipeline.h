// The process runner of `r1 zero`: each stage is an ordinary subcommand of this same binary run as
// a child process (/proc/self/exe) with explicit arguments, its output prefixed on stdout and
// copied into DIR/logs/STAGE.log (first line: the command). A finished stage writes
// DIR/.done/STAGE.json atomically (with its wall time), so Ctrl-C and a rerun resume from the
// last finished stage.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/result.h"
#include "recipe/profile.h"

namespace r1::recipe {

using json = nlohmann::ordered_json;

/// Installs the SIGINT/SIGTERM handler that sets interrupted() (children get the signal from the
/// terminal themselves; the pipeline stops after the running stage returns).
void install_interrupt_handler();
/// Whether SIGINT or SIGTERM arrived since install_interrupt_handler().
bool interrupted();

/// Seconds as "1h02m03s", "2m03s" or "3s" (negative counts as 0).
std::string format_duration(double s);
/// Writes `j` (indented) to `path` atomically. Errors: the file cannot be written.
Result<void> write_json_file(const std::string& path, const json& j);
/// The JSON in `path`, or nullopt when it is missing or not JSON.
std::optional<json> read_json_file(const std::string& path);
/// The newest OUT/checkpoint-STEP directory (by STEP) that holds a config.json, or "" when none.
std::string latest_checkpoint_dir(const std::string& out);
/// Puts the task's chat template (task/chat_template.h) into DIR/tokenizer_config.json, where
/// `r1 chat`, `r1 serve`, `r1 convert` and transformers look for it, keeping the file's other
/// fields; a directory without the file gets one that names the EOS token too. Idempotent.
/// Errors: the existing file is not a JSON object, or it cannot be written.
Result<void> write_chat_template(const std::string& dir);
/// Copies the model files of checkpoint `ckpt` (not the optimizer state) into `dst`, replacing it,
/// with the task's chat template in its tokenizer_config.json. Errors: name the path that failed.
Result<void> export_model(const std::string& ckpt, const std::string& dst);

/// One line of the final stage-time table.
struct StageRecord {
  std::string id, status;  // status: done, resumed (done earlier), skipped, failed
  double seconds = 0;
  std::string note;
};

/// Outcome of one stage body: 0 ok, >0 failed (exit code), -1 skipped (unavailable; note says why).
struct StageResult {
  int rc = 0;
  std::string note;
};

/// The state of one pipeline run in DIR: done markers, child processes, prefixed output, records.
class Pipeline {
 public:
  using Clock = std::chrono::steady_clock;

  /// `n_stages` is only shown in the "[zero N/M ...]" prefix.
  Pipeline(std::string dir, Profile p, int threads, int n_stages);

  const std::string& dir() const { return dir_; }
  const Profile& profile() const { return p_; }
  int threads() const { return threads_; }
  std::vector<StageRecord>& records() { return records_; }
  /// Seconds since the pipeline object was made.
  double elapsed() const;

  /// DIR/.done/ID.json, the marker of a finished stage.
  std::string marker(const std::string& id) const;
  /// The marker's JSON when stage `id` finished earlier, else nullopt.
  std::optional<json> done(const std::string& id) const;
  /// The wall time recorded in stage `id`'s marker, 0 when it has none.
  double stage_seconds(const std::string& id) const;

  /// Whether `r1 NAME` exists in this binary (its --help exits 0).
  bool has_command(const std::string& name);
  /// Whether `r1 NAME --help` lists option `flag` (stages pass --resume only where it exists).
  bool has_flag(const std::string& name, const std::string& flag);

  /// Runs `r1 ARGS...` with output prefixed by "[zero N/M ID +ELAPSED] " on stdout and copied raw
  /// into DIR/logs/ID.log (first line: the command). Returns the exit code (128+sig if killed).
  int run_child(const std::string& id, const std::vector<std::string>& args);

  /// The stage number shown in the output prefix.
  void set_stage_index(int i) { stage_index_ = i; }

  /// The output of `r1 NAME --help`, or nullopt when it fails (no such command). Cached.
  std::optional<std::string> help(const std::string& name);

  /// Prints `text` with the stage prefix at each line start (\n and \r both start a line, so
  /// \r-progress lines of a child redraw in place with their prefix).
  void emit(const std::string& id, const std::string& text);
  /// emit() of one line.
  void say(const std::string& id, const std::string& line);

 private:
  std::string dir_;
  Profile p_;
  int threads_;
  int n_stages_;
  int stage_index_ = 0;
  // Children run this very binary, even if the file was rebuilt (replaced) meanwhile.
  const std::string self_ = "/proc/self/exe";
  bool line_start_ = true;
  std::map<std::string, std::optional<std::string>> help_;
  std::vector<StageRecord> records_;
  Clock::time_point t0_ = Clock::now();
};

/// Runs stage `id` (number `index`) unless its done-marker exists; writes the marker (with wall
/// time and the body's note) after success. Returns false when the stage failed or was
/// interrupted (the pipeline stops); a skipped stage (rc -1) is recorded and returns true.
bool run_stage(Pipeline& pl, int index, const std::string& id, const std::string& title,
               const std::function<StageResult()>& body);

}  // namespace r1::recipe
