// `r1 zero [--quick] [--out DIR]`: the DeepSeek-R1 recipe end to end at toy scale, on the embedded
// arithmetic task, with nothing downloaded. Each stage is an ordinary subcommand of this same binary
// run as a child process (/proc/self/exe) with explicit arguments, so every step can be rerun by
// hand from DIR/logs/STAGE.log (its first line is the command):
//   corpus        r1 task corpus          base corpus (bare answers, <think> traces, slips, checks)
//   tokenizer     r1 tokenizer train      byte-level BPE; specials <|eos|>, <think>, </think>
//   base          r1 pretrain             DeepSeek-V3 architecture (MLA, shared + routed experts,
//                                         aux-loss-free balancing, an MTP head) from random init
//   student-base  r1 pretrain             the small dense Qwen2-architecture student's own base
//   r1-zero       r1 grpo                 GRPO from the base, accuracy + format rewards only
//   base-more     r1 pretrain             control: the base given the GRPO stage's time as more
//                                         pretraining (steps = GRPO seconds / base seconds per step)
//   student       r1 distill              R1-Zero's verified traces -> SFT of the student base
//   student-grpo  r1 grpo                 control: the student base given the distill stage's time
//                                         as GRPO (--time-budget)
//   eval-*        r1 eval                 held-out problems: pass@1 over k samples, cons@k, length,
//                                         share of answers with self-checking
//   gguf-*        r1 convert              each model as GGUF where the converter supports its arch
// Every finished stage writes DIR/.done/STAGE.json atomically (with its wall time), so Ctrl-C and a
// rerun resume from the last finished stage; pretrain/grpo/distill also get --resume, which picks up
// their own checkpoints inside a stage. Child output passes through, each line prefixed with the
// stage and the pipeline's elapsed time. The final table is printed and written to DIR/results.json.
// Every exported model (DIR/models/NAME) carries the task's chat template (task/chat_template.h)
// in its tokenizer_config.json, so `r1 chat`, `r1 serve` and the GGUF files talk in the task's form.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/commands.h"
#include "core/storage.h"
#include "core/thread_pool.h"
#include "models/deepseek_v3/config.h"
#include "models/init_model.h"
#include "task/chat_template.h"

namespace r1::cli {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

volatile sig_atomic_t g_interrupted = 0;
void on_sigint(int) { g_interrupted = 1; }

// ---------------------------------------------------------------------------------------------
// The vocabulary: EOS + 256 bytes, i.e. a byte-level BPE with no merges. Measured: with
// ~125 merges the BPE merges digit runs ("34", "589"), and a 0.5M-parameter model must then split
// tokens into digits to work column by column; its base reached ~1% accuracy and GRPO had nothing
// to reinforce. One token per character (the prototype's recipe) makes each column a lookup.
// <think> and </think> are plain text (7 and 8 byte tokens), not special tokens: pretraining,
// GRPO sampling, SFT/distillation and evaluation then all see the same ids for a trace. (With the
// tags as specials, `r1 sft` parsed them to their special ids while pretraining and sampling wrote
// bytes: a distilled student started from a loss of 5.6 nats instead of ~0.5.)
constexpr int kByteVocab = 1 + 256;

// Profiles: every size and step count of the pipeline. --quick only proves that each stage runs
// and writes its outputs; the default is sized for 2 CPU cores after ../shared/R1ZERO-TOY.md
// (0.2M-parameter models, batch 16 x 64 tokens, lr 3e-3; GRPO 16 prompts x G=8, lr 1e-4, no KL).

struct Profile {
  std::string name;
  int64_t corpus_docs;
  int vocab;
  // Base (DeepSeek-V3 architecture).
  int base_hidden, base_layers, base_dense_layers, base_inter, base_moe_inter, base_experts,
      base_shared, base_topk, base_kv_lora, base_rope;
  double base_mtp_weight;  // MTP loss weight while pretraining the base
  int64_t base_steps;
  // Student (Qwen2 architecture, smaller and dense).
  int st_hidden, st_layers, st_inter, st_heads, st_kv_heads;
  int64_t st_steps;
  int64_t pt_batch, pt_seq;
  double pt_lr, pt_min_lr;
  int64_t pt_warmup;
  // GRPO.
  int64_t grpo_steps, grpo_prompts, grpo_g, grpo_max_len;
  double grpo_time_budget;
  // Distillation.
  int64_t distill_prompts, distill_k, distill_steps;
  // Evaluation.
  int64_t eval_n, eval_k, eval_max_tokens;
  // Task difficulty of every stage (corpus, GRPO, distillation, evaluation).
  int level;
};

Profile quick_profile() {
  Profile p;
  p.name = "quick";
  p.corpus_docs = 8000;
  p.vocab = kByteVocab;
  p.base_hidden = 48, p.base_layers = 2, p.base_dense_layers = 1, p.base_inter = 64,
  p.base_moe_inter = 16, p.base_experts = 4, p.base_shared = 1, p.base_topk = 2,
  p.base_kv_lora = 16, p.base_rope = 8, p.base_mtp_weight = 0.3;
  p.base_steps = 600;
  p.st_hidden = 32, p.st_layers = 1, p.st_inter = 64, p.st_heads = 4, p.st_kv_heads = 2;
  p.st_steps = 150;
  p.pt_batch = 8, p.pt_seq = 64;
  p.pt_lr = 3e-3, p.pt_min_lr = 3e-4, p.pt_warmup = 10;
  p.grpo_steps = 3, p.grpo_prompts = 4, p.grpo_g = 4, p.grpo_max_len = 48;
  p.grpo_time_budget = 60;
  p.distill_prompts = 64, p.distill_k = 4, p.distill_steps = 4;
  p.eval_n = 16, p.eval_k = 2, p.eval_max_tokens = 48;
  p.level = 1;
  return p;
}

Profile default_profile() {
  Profile p;
  p.name = "default";
  p.corpus_docs = 60000;
  p.vocab = kByteVocab;
  p.base_hidden = 96, p.base_layers = 2, p.base_dense_layers = 1, p.base_inter = 256,
  p.base_moe_inter = 96, p.base_experts = 4, p.base_shared = 1, p.base_topk = 2,
  // Measured at level 1 (pass@1, T=0.6, 200 held-out problems x 8): kv_lora 32 / rope 8 / MTP 0.3
  // gave 6.9% after 3000 steps; kv_lora 64 / rope 16 with MTP 0.3 7.4%; without the MTP loss 17.5%
  // at 3000 and 33% at 6000 steps. The MTP loss competes with the main objective in a 0.3M model,
  // so the head is kept (and trained) at a small weight.
  p.base_kv_lora = 64, p.base_rope = 16, p.base_mtp_weight = 0.1;
  p.base_steps = 6000;
  p.st_hidden = 64, p.st_layers = 2, p.st_inter = 192, p.st_heads = 4, p.st_kv_heads = 2;
  p.st_steps = 3000;
  p.pt_batch = 16, p.pt_seq = 64;
  p.pt_lr = 3e-3, p.pt_min_lr = 3e-4, p.pt_warmup = 50;
  p.grpo_steps = 400, p.grpo_prompts = 16, p.grpo_g = 8, p.grpo_max_len = 96;
  p.grpo_time_budget = 180;
  p.distill_prompts = 800, p.distill_k = 4, p.distill_steps = 300;
  p.eval_n = 200, p.eval_k = 8, p.eval_max_tokens = 96;
  // Level 1 (2-digit +/-, 2-digit x 1-digit). Measured: at level 0 (3-digit operands) a 0.23M
  // model trained 3000-6000 steps (r1 and a PyTorch replica alike) copies the second operand's
  // digits no better than chance, base pass@1 0.2-9%, and GRPO has nothing to reinforce; at level 1
  // the same model reaches pass@1 20% (T=1) / 32% (T=0.6) in 3000 steps, like the prototype.
  p.level = 1;
  return p;
}

// The tokenizer's one special token: EOS (id 0). No BOS: `r1 pretrain` packs documents with EOS
// between them and no BOS, so a prompt needs none either.
constexpr const char* kEos = "<|eos|>";

json base_config(const Profile& p) {
  const int heads = 4;
  return json{{"architectures", {"DeepseekV3ForCausalLM"}},
              {"model_type", "deepseek_v3"},
              {"vocab_size", p.vocab},
              {"hidden_size", p.base_hidden},
              {"num_attention_heads", heads},
              {"num_key_value_heads", heads},
              {"num_hidden_layers", p.base_layers},
              {"first_k_dense_replace", p.base_dense_layers},
              {"intermediate_size", p.base_inter},
              {"moe_intermediate_size", p.base_moe_inter},
              {"moe_layer_freq", 1},
              {"n_routed_experts", p.base_experts},
              {"n_shared_experts", p.base_shared},
              {"num_experts_per_tok", p.base_topk},
              {"n_group", 1},
              {"topk_group", 1},
              {"routed_scaling_factor", 1.0},
              {"norm_topk_prob", true},
              {"scoring_func", "sigmoid"},
              {"topk_method", "noaux_tc"},
              {"q_lora_rank", nullptr},
              {"kv_lora_rank", p.base_kv_lora},
              {"qk_nope_head_dim", p.base_hidden / heads},
              {"qk_rope_head_dim", p.base_rope},
              {"v_head_dim", p.base_hidden / heads},
              {"rope_theta", 10000.0},
              {"rms_norm_eps", 1e-6},
              {"hidden_act", "silu"},
              {"attention_bias", false},
              {"tie_word_embeddings", false},
              {"max_position_embeddings", 256},
              {"eos_token_id", 0},
              {"num_nextn_predict_layers", 1},
              {"initializer_range", 0.02},
              {"torch_dtype", "float32"},
              {"_name_or_path", "r1-zero-toy-base"}};
}

json student_config(const Profile& p) {
  return json{{"architectures", {"Qwen2ForCausalLM"}},
              {"model_type", "qwen2"},
              {"vocab_size", p.vocab},
              {"hidden_size", p.st_hidden},
              {"intermediate_size", p.st_inter},
              {"num_hidden_layers", p.st_layers},
              {"num_attention_heads", p.st_heads},
              {"num_key_value_heads", p.st_kv_heads},
              {"max_position_embeddings", 256},
              {"rope_theta", 10000.0},
              {"rms_norm_eps", 1e-6},
              {"hidden_act", "silu"},
              {"tie_word_embeddings", true},
              {"eos_token_id", 0},
              {"torch_dtype", "float32"},
              {"_name_or_path", "r1-zero-toy-student"}};
}

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

/// The newest OUT/checkpoint-STEP directory (by STEP), or "" when there is none.
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

/// Puts the task's chat template (task/chat_template.h) into DIR/tokenizer_config.json, where
/// `r1 chat`, `r1 serve`, `r1 convert` and transformers look for it, keeping the file's other
/// fields; a directory without the file gets one that names the EOS token too. Idempotent.
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

/// Copies the model files of checkpoint `ckpt` (not the optimizer state) into `dst`, replacing it,
/// with the task's chat template in its tokenizer_config.json.
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

// ---------------------------------------------------------------------------------------------

struct StageRecord {
  std::string id, status;  // status: done, resumed (done earlier), skipped, failed
  double seconds = 0;
  std::string note;
};

class Pipeline {
 public:
  Pipeline(std::string dir, Profile p, int threads, int n_stages)
      : dir_(std::move(dir)), p_(std::move(p)), threads_(threads), n_stages_(n_stages) {
  }

  const std::string& dir() const { return dir_; }
  const Profile& profile() const { return p_; }
  int threads() const { return threads_; }
  std::vector<StageRecord>& records() { return records_; }
  double elapsed() const { return std::chrono::duration<double>(Clock::now() - t0_).count(); }

  std::string marker(const std::string& id) const { return dir_ + "/.done/" + id + ".json"; }
  std::optional<json> done(const std::string& id) const { return read_json_file(marker(id)); }
  double stage_seconds(const std::string& id) const {
    auto m = done(id);
    return m && (*m)["seconds"].is_number() ? (*m)["seconds"].get<double>() : 0.0;
  }

  /// Whether `r1 NAME` exists in this binary (its --help exits 0).
  bool has_command(const std::string& name) { return help(name).has_value(); }
  /// Whether `r1 NAME --help` lists option `flag` (stages pass --resume only where it exists).
  bool has_flag(const std::string& name, const std::string& flag) {
    auto h = help(name);
    return h && h->find(" " + flag) != std::string::npos;
  }

  /// Runs `r1 ARGS...` with output prefixed by "[zero N/M ID +ELAPSED] " on stdout and copied raw
  /// into DIR/logs/ID.log (first line: the command). Returns the exit code (128+sig if killed).
  int run_child(const std::string& id, const std::vector<std::string>& args) {
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

  void set_stage_index(int i) { stage_index_ = i; }

  /// The output of `r1 NAME --help`, or nullopt when it fails (no such command). Cached.
  std::optional<std::string> help(const std::string& name) {
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

  /// Prints `text` with the stage prefix at each line start (\n and \r both start a line, so
  /// \r-progress lines of a child redraw in place with their prefix).
  void emit(const std::string& id, const std::string& text) {
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

  void say(const std::string& id, const std::string& line) { emit(id, line + "\n"); }

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

/// Outcome of one stage body: 0 ok, >0 failed (exit code), -1 skipped (unavailable; note says why).
struct StageResult {
  int rc = 0;
  std::string note;
};

/// Runs stage `id` unless its done-marker exists; writes the marker (with wall time and `extra`)
/// after success. Returns false when the stage failed or was interrupted (the pipeline stops).
bool stage(Pipeline& pl, int index, const std::string& id, const std::string& title,
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
  if (g_interrupted) {
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

}  // namespace
}  // namespace r1::cli

namespace r1::cli {
namespace {

/// One evaluated model of the final table.
struct ModelRow {
  std::string name, what, arch;
};

const std::vector<ModelRow>& model_rows() {
  static const std::vector<ModelRow> rows = {
      {"base", "pretrained base (DeepSeek-V3 arch)", "deepseek_v3"},
      {"base-more", "control: base + GRPO's time of more pretraining", "deepseek_v3"},
      {"r1-zero", "R1-Zero: GRPO from the base", "deepseek_v3"},
      {"student-base", "student architecture pretrained on the base corpus", "qwen2"},
      {"student-grpo", "control: student base + distill's time of GRPO", "qwen2"},
      {"student", "student: distilled from R1-Zero's verified traces", "qwen2"},
  };
  return rows;
}


/// Prints the final table, stage times, where the charts and models are and how to talk to them;
/// writes DIR/results.json. Returns 0.
int report_zero(Pipeline& pl, bool quick) {
  const std::string& out = pl.dir();
  json models = json::object();
  std::printf("\nr1 zero: held-out arith problems, level %d (%s profile)\n", pl.profile().level,
              pl.profile().name.c_str());
  std::printf("%-13s %-11s %7s %7s %7s %8s %6s %6s  %s\n", "model", "arch", "pass@1", "cons@k", "pass@k",
              "mean_tok", "think", "check", "what");
  for (const auto& row : model_rows()) {
    json m{{"what", row.what}, {"arch", row.arch}};
    const std::string dir = out + "/models/" + row.name;
    if (fs::exists(dir + "/config.json")) {
      m["hf_dir"] = dir;
      // Models exported by a run made before they carried the template get it on resume.
      if (auto w = write_chat_template(dir); !w.ok()) std::fprintf(stderr, "r1 zero: %s\n", w.message().c_str());
    }
    const std::string gguf = out + "/gguf/" + row.name + ".gguf";
    if (fs::exists(gguf)) m["gguf"] = gguf;
    auto r = read_json_file(out + "/eval/" + row.name + "/results.json");
    if (r) {
      for (const char* k : {"n_problems", "k", "pass@1", "cons@k", "pass@k", "mean_completion_tokens", "think_share",
                            "check_share", "wait_share", "format_share"})
        if (r->contains(k)) m[k] = (*r)[k];
      auto num = [&](const char* k) { return m.contains(k) && m[k].is_number() ? m[k].get<double>() : NAN; };
      std::printf("%-13s %-11s %7.1f %7.1f %7.1f %8.1f %6.2f %6.2f  %s\n", row.name.c_str(), row.arch.c_str(),
                  100 * num("pass@1"), 100 * num("cons@k"), 100 * num("pass@k"), num("mean_completion_tokens"),
                  num("think_share"), num("check_share"), row.what.c_str());
    } else {
      std::printf("%-13s %-11s %7s %7s %7s %8s %6s %6s  %s\n", row.name.c_str(), row.arch.c_str(), "-", "-", "-", "-",
                  "-", "-", (row.what + " (not evaluated)").c_str());
    }
    models[row.name] = m;
  }
  std::printf("(pass@1: %% correct over k=%lld samples per problem at T=0.6, top-p 0.95; cons@k: majority vote; "
              "check: share of answers with a self-check)\n", static_cast<long long>(pl.profile().eval_k));

  // The acceptance checks of the default profile (reported, not enforced: --quick only proves the
  // stages run).
  auto get = [&](const char* model, const char* key) {
    return models[model].contains(key) && models[model][key].is_number() ? models[model][key].get<double>() : NAN;
  };
  json checks{{"r1_zero_pass1_gain_points", 100 * (get("r1-zero", "pass@1") - get("base", "pass@1"))},
              {"r1_zero_beats_base_by_20_points", get("r1-zero", "pass@1") >= get("base", "pass@1") + 0.20},
              {"student_above_base", get("student", "pass@1") > get("base", "pass@1")},
              {"r1_zero_longer_than_base",
               get("r1-zero", "mean_completion_tokens") > get("base", "mean_completion_tokens")},
              {"r1_zero_beats_more_pretraining", get("r1-zero", "pass@1") > get("base-more", "pass@1")},
              {"distill_beats_student_grpo", get("student", "pass@1") > get("student-grpo", "pass@1")}};
  for (auto& [k, v] : checks.items())
    if (v.is_number_float() && std::isnan(v.get<double>())) v = nullptr;

  std::printf("\nstage times:\n");
  json stages = json::array();
  double total = 0;
  for (const auto& r : pl.records()) {
    std::printf("  %-20s %-8s %9s%s\n", r.id.c_str(), r.status.c_str(), format_duration(r.seconds).c_str(),
                r.note.empty() ? "" : ("  " + r.note).c_str());
    stages.push_back({{"stage", r.id}, {"status", r.status}, {"seconds", r.seconds}, {"note", r.note}});
    total += r.seconds;
  }
  std::printf("  %-20s %-8s %9s\n", "total", "", format_duration(total).c_str());

  json charts = json::array();
  for (const char* c : {"reward", "accuracy", "completion_len"}) {
    const std::string p = out + "/charts/" + std::string(c) + ".png";
    if (fs::exists(p)) charts.push_back(p);
  }
  json res{{"profile", pl.profile().name}, {"out", out},   {"task", "arith"}, {"level", pl.profile().level}, {"eval_k", pl.profile().eval_k},
           {"eval_n", pl.profile().eval_n}, {"models", models}, {"checks", checks}, {"stages", stages},
           {"total_seconds", total},       {"charts", charts}};
  if (auto w = write_json_file(out + "/results.json", res); !w.ok()) {
    std::fprintf(stderr, "r1 zero: %s\n", w.message().c_str());
    return 1;
  }
  std::printf("\nwrote %s/results.json\n", out.c_str());
  if (!charts.empty())
    std::printf("RL curves (reward, accuracy, response length): %s/charts/{reward,accuracy,completion_len}.png\n",
                out.c_str());
  const std::string student = out + "/models/student";
  const std::string talk = fs::exists(student + "/config.json") ? student : out + "/models/r1-zero";
  std::printf("\ntalk to the models (raw prompts look like Q:47+58=?A:; chat puts 47+58 into that form):\n");
  std::printf("  r1 run %s -p 'Q:47+58=?A:'\n", talk.c_str());
  std::printf("  echo '47+58' | r1 chat %s\n", talk.c_str());
  std::printf("  r1 serve %s   (OpenAI-compatible API)\n", talk.c_str());
  if (fs::exists(out + "/gguf/student.gguf"))
    std::printf("  r1 run %s/gguf/student.gguf -p 'Q:36*7=?A:'   (the GGUF file; llama.cpp loads it too)\n",
                out.c_str());
  std::printf("models: %s/models/NAME (HF directories), %s/gguf/NAME.gguf; `r1 run`/`r1 chat` with no model use "
              "the student\n", out.c_str(), out.c_str());
  (void)quick;
  return 0;
}

}  // namespace

int cmd_zero(int argc, char** argv) {
  CLI::App app{"Runs the DeepSeek-R1 recipe end to end at toy scale on the embedded arithmetic task: "
               "base corpus + tokenizer, a DeepSeek-V3-architecture base (MLA, MoE, MTP), R1-Zero by "
               "GRPO, distillation into a small Qwen2 student, controls, evaluation, GGUF export. "
               "Ctrl-C and rerun resumes.", "r1 zero"};
  bool quick = false;
  std::string out = zero_default_dir();
  int threads = default_threads();
  app.add_flag("--quick", quick, "CI profile (under 3 minutes): only checks that every stage runs and writes its outputs");
  app.add_option("--out", out, "output folder (models, charts, logs, results.json)")->capture_default_str();
  app.add_option("-t,--threads", threads, "threads per stage")->capture_default_str()->check(number_at_least(1));
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  const Profile P = quick ? quick_profile() : default_profile();
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "r1 zero: --out %s: cannot create: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  out = fs::absolute(out).lexically_normal().string();
  if (!out.empty() && out.back() == '/') out.pop_back();
  // A folder holds one profile: resuming a --quick run as a default one would mix model sizes.
  const std::string prof_path = out + "/profile.json";
  if (auto pj = read_json_file(prof_path)) {
    const auto hp = pj->is_object() ? pj->find("profile") : pj->end();
    const std::string had = hp != pj->end() && hp->is_string() ? hp->get<std::string>() : "?";
    if (had != P.name) {
      std::fprintf(stderr, "r1 zero: %s holds a '%s' run; use another --out or delete it to run '%s'\n",
                   out.c_str(), had.c_str(), P.name.c_str());
      return 2;
    }
  } else if (auto w = write_json_file(prof_path, json{{"profile", P.name}}); !w.ok()) {
    std::fprintf(stderr, "r1 zero: %s\n", w.message().c_str());
    return 1;
  }

  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  const std::string T = std::to_string(threads);
  const std::string M = out + "/models";
  const std::string tok = out + "/tokenizer/tokenizer.json";
  const std::string corpus = out + "/data/corpus.jsonl";
  fs::create_directories(M, ec);
  const int n_stages = 8 + 2 * int(model_rows().size()) + 1;
  Pipeline pl(out, P, threads, n_stages);
  std::printf("r1 zero: profile %s -> %s (%d threads per stage)\n", P.name.c_str(), out.c_str(), threads);
  std::fflush(stdout);
  int idx = 0;
  auto need = [&](const std::string& cmd) -> std::optional<StageResult> {
    if (pl.has_command(cmd)) return std::nullopt;
    return StageResult{-1, "`r1 " + cmd + "` is not a command of this build"};
  };
  auto need_model = [&](const std::string& name) -> std::optional<StageResult> {
    if (fs::exists(M + "/" + name + "/config.json")) return std::nullopt;
    return StageResult{-1, "its input model " + M + "/" + name + " was not produced"};
  };
  // Trains with `args` into OUT_SUB and exports the newest checkpoint as models/NAME.
  auto train_and_export = [&](const std::string& id, std::vector<std::string> args, const std::string& sub,
                              const std::string& name) -> StageResult {
    if (int rc = pl.run_child(id, args); rc != 0) return {rc, ""};
    const std::string ck = latest_checkpoint_dir(sub);
    if (ck.empty()) return {1, "no checkpoint-STEP/ in " + sub};
    if (auto e = export_model(ck, M + "/" + name); !e.ok()) return {1, e.message()};
    pl.say(id, "model: " + M + "/" + name + " (from " + ck + ")");
    return {};
  };
  const std::string pt_batch = std::to_string(P.pt_batch), pt_seq = std::to_string(P.pt_seq);
  auto pretrain_args = [&](std::vector<std::string> a, int64_t steps, double lr, int64_t warmup) {
    for (const std::string& s :
         {std::string("--tokenizer"), tok, std::string("--data"), corpus, std::string("--steps"),
          std::to_string(steps), std::string("--batch"), pt_batch, std::string("--seq-len"), pt_seq,
          std::string("--lr"), fmt::format("{}", lr), std::string("--min-lr"), fmt::format("{}", P.pt_min_lr),
          std::string("--warmup"), std::to_string(warmup), std::string("--save-every"),
          std::to_string(std::max<int64_t>(steps / 4, 10)), std::string("--keep-last"), std::string("1"),
          std::string("-t"), T, std::string("--resume")})
      a.push_back(s);
    return a;
  };
  auto grpo_args = [&](const std::string& model, const std::string& sub, int64_t steps, double budget) {
    return std::vector<std::string>{
        "grpo", "--model", model, "--task", "arith", "--level", std::to_string(P.level), "--out", sub, "--steps", std::to_string(steps),
        "--prompts-per-step", std::to_string(P.grpo_prompts), "--num_generations", std::to_string(P.grpo_g),
        "--max_completion_length", std::to_string(P.grpo_max_len), "--temperature", "1.0",
        "--learning_rate", "1e-4", "--beta", "0", "--epsilon", "0.2", "--epsilon_high", "0.28",
        "--loss_type", "dapo", "--reward-funcs", "accuracy,format", "--reward-weights", "1,0.2",
        "--time-budget", fmt::format("{:.0f}", std::max(budget, 1.0)), "--save-every",
        std::to_string(std::max<int64_t>(steps / 4, 5)), "--keep-last", "1", "-t", T, "--resume"};
  };
  bool ok = true;
  auto run = [&](const std::string& id, const std::string& title, const std::function<StageResult()>& body) {
    ++idx;
    if (!ok) return;
    ok = stage(pl, idx, id, title, body);
  };

  // 1-2. Data and tokenizer.
  run("corpus", "base corpus (r1 task corpus)", [&]() -> StageResult {
    if (auto u = need("task")) return *u;
    fs::create_directories(out + "/data", ec);
    return {pl.run_child("corpus", {"task", "corpus", "--name", "arith", "--n", std::to_string(P.corpus_docs),
                                    "--seed", "1", "--level", std::to_string(P.level), "--out", corpus}),
            ""};
  });
  run("tokenizer", "byte-level BPE (r1 tokenizer train)", [&]() -> StageResult {
    if (auto u = need("tokenizer")) return *u;
    fs::create_directories(out + "/tokenizer", ec);
    return {pl.run_child("tokenizer", {"tokenizer", "train", "--data", corpus, "--vocab-size", std::to_string(P.vocab),
                                       "--out", tok, "--special", kEos, "--eos", kEos}),
            ""};
  });
  // 3-4. Base models.
  run("base", "DeepSeek-V3-architecture base (r1 pretrain)", [&]() -> StageResult {
    if (auto u = need("pretrain")) return *u;
    const std::string init = out + "/base/init";
    if (!fs::exists(init + "/model.safetensors")) {
      const auto cfg = nlohmann::json::parse(base_config(P).dump());
      if (auto w = models::write_random_deepseek_v3(cfg, init, 1); !w.ok()) return {1, w.message()};
      pl.say("base", "random DeepSeek-V3 init: " + init + "/config.json");
    }
    return train_and_export("base", pretrain_args({"pretrain", "--init-from", init, "--out", out + "/base/train",
                                                   "--mtp-weight", fmt::format("{}", P.base_mtp_weight), "--router-bias-rate", "1e-3"},
                                                  P.base_steps, P.pt_lr, P.pt_warmup),
                            out + "/base/train", "base");
  });
  run("student-base", "Qwen2-architecture student base (r1 pretrain)", [&]() -> StageResult {
    if (auto u = need("pretrain")) return *u;
    fs::create_directories(out + "/student-base", ec);
    const std::string cfg = out + "/student-base/config.json";
    if (auto w = write_json_file(cfg, student_config(P)); !w.ok()) return {1, w.message()};
    return train_and_export("student-base", pretrain_args({"pretrain", "--model-config", cfg, "--out",
                                                           out + "/student-base/train"},
                                                          P.st_steps, P.pt_lr, P.pt_warmup),
                            out + "/student-base/train", "student-base");
  });
  // 5. R1-Zero.
  run("r1-zero", "R1-Zero: GRPO from the base (r1 grpo)", [&]() -> StageResult {
    if (auto u = need("grpo")) return *u;
    if (auto u = need_model("base")) return *u;
    StageResult r = train_and_export("r1-zero", grpo_args(M + "/base", out + "/r1-zero/train", P.grpo_steps,
                                                          P.grpo_time_budget),
                                     out + "/r1-zero/train", "r1-zero");
    if (r.rc == 0) {
      const std::string charts = out + "/r1-zero/train/charts";
      fs::create_directories(out + "/charts", ec);
      for (const char* c : {"reward", "accuracy", "completion_len"}) {
        const std::string src = charts + "/" + c + ".png";
        if (fs::exists(src)) fs::copy_file(src, out + "/charts/" + c + ".png", fs::copy_options::overwrite_existing, ec);
      }
    }
    return r;
  });
  // 6. Control: the base given GRPO's wall time as more pretraining.
  run("base-more", "control: base + more pretraining for GRPO's time (r1 pretrain)", [&]() -> StageResult {
    if (auto u = need("pretrain")) return *u;
    if (auto u = need_model("base")) return *u;
    // Seconds per step from the base's own metrics (tokens_per_s per step), not from the stage's
    // wall time, which covers only the last run of a resumed stage.
    const double grpo_s = pl.stage_seconds("r1-zero");
    double tps = 0;
    int64_t n = 0;
    std::ifstream mf(out + "/base/train/metrics.jsonl");
    for (std::string line; std::getline(mf, line);) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.contains("tokens_per_s") && j["tokens_per_s"].is_number()) tps += j["tokens_per_s"].get<double>(), ++n;
    }
    if (grpo_s <= 0 || n == 0 || tps <= 0) return {-1, "needs the GRPO stage's time and the base's metrics.jsonl"};
    const double s_per_step = double(P.pt_batch * P.pt_seq) / (tps / double(n));
    const int64_t steps = std::max<int64_t>(1, std::llround(grpo_s / s_per_step));
    pl.say("base-more", fmt::format("{} more steps ~ {} of GRPO at the base's {:.3f} s/step", steps,
                                    format_duration(grpo_s), s_per_step));
    return train_and_export("base-more", pretrain_args({"pretrain", "--init-from", M + "/base", "--out",
                                                        out + "/base-more/train", "--mtp-weight",
                                                        fmt::format("{}", P.base_mtp_weight)},
                                                       steps, P.pt_min_lr * 3, 1),
                            out + "/base-more/train", "base-more");
  });
  // 7. Distillation of R1-Zero's verified traces into the student.
  run("student", "student: distil R1-Zero's verified traces (r1 distill)", [&]() -> StageResult {
    if (auto u = need("distill")) return *u;
    if (auto u = need_model("r1-zero")) return *u;
    if (auto u = need_model("student-base")) return *u;
    std::vector<std::string> args{"distill", "--teacher", M + "/r1-zero", "--student", M + "/student-base", "--task", "arith",
                             "--level", std::to_string(P.level), "--n", std::to_string(P.distill_prompts), "-k", std::to_string(P.distill_k),
                             "--temp", "0.6", "--max-tokens", std::to_string(P.grpo_max_len), "--out",
                             out + "/student/train", "--steps", std::to_string(P.distill_steps), "--lr", "1e-3",
                             "--min-lr", "1e-4", "--warmup", "5", "--batch", "16", "--seq-len", "128",
                             "--save-every", std::to_string(std::max<int64_t>(P.distill_steps / 4, 5)),
                             "--keep-last", "1", "-t", T};
    if (pl.has_flag("distill", "--resume")) args.push_back("--resume");
    StageResult r = train_and_export("student", args, out + "/student/train/student", "student");
    // No verified trace at all (the --quick profile's barely trained teacher): nothing to distil.
    // Reported as unavailable, not faked; the stages that need the student skip too.
    auto st = read_json_file(out + "/student/train/distill_stats.json");
    if (r.rc != 0 && st && st->contains("kept") && (*st)["kept"] == 0)
      return {-1, fmt::format("R1-Zero produced no verified trace to distil ({} samples, {} correct)",
                              st->value("samples", 0), st->value("correct", 0))};
    return r;
  });
  // 8. Control: the student base given the distillation's time as GRPO.
  run("student-grpo", "control: student base + GRPO for distillation's time (r1 grpo)", [&]() -> StageResult {
    if (auto u = need("grpo")) return *u;
    if (auto u = need_model("student-base")) return *u;
    const double s = pl.stage_seconds("student");
    if (s <= 0) return {-1, "needs the time of stage student"};
    pl.say("student-grpo", "time budget " + format_duration(s) + " (the distill stage's)");
    return train_and_export("student-grpo", grpo_args(M + "/student-base", out + "/student-grpo/train", 100000, s),
                            out + "/student-grpo/train", "student-grpo");
  });
  // 9. Evaluation of every model on held-out problems.
  for (const auto& row : model_rows()) {
    const std::string id = "eval-" + row.name;
    run(id, "evaluate " + row.name + " (r1 eval)", [&]() -> StageResult {
      if (auto u = need("eval")) return *u;
      if (auto u = need_model(row.name)) return *u;
      return {pl.run_child(id, {"eval", "--model", M + "/" + row.name, "--task", "arith", "--level", std::to_string(P.level), "--n",
                                std::to_string(P.eval_n), "-k", std::to_string(P.eval_k), "--temp", "0.6",
                                "--top-p", "0.95", "--max-tokens", std::to_string(P.eval_max_tokens), "--seed", "7",
                                "-t", T, "--out", out + "/eval/" + row.name}),
              ""};
    });
  }
  // 10. GGUF files (where `r1 convert` supports the architecture).
  for (const auto& row : model_rows()) {
    const std::string id = "gguf-" + row.name;
    run(id, "GGUF of " + row.name + " (r1 convert)", [&]() -> StageResult {
      if (auto u = need("convert")) return *u;
      if (auto u = need_model(row.name)) return *u;
      fs::create_directories(out + "/gguf", ec);
      const int rc = pl.run_child(id, {"convert", M + "/" + row.name, "--out", out + "/gguf/" + row.name + ".gguf",
                                       "--type", "f32"});
      if (rc != 0) {  // e.g. a model the converter refuses: reported, the pipeline goes on
        std::ifstream lf(out + "/logs/" + id + ".log");
        std::string line, last;
        while (std::getline(lf, line))
          if (!line.empty()) last = line;
        return {-1, last.empty() ? "r1 convert failed" : last};
      }
      return {};
    });
  }
  ++idx;
  if (!ok) {
    std::printf("r1 zero: stopped; rerun `r1 zero%s --out %s` to resume from the last finished stage\n",
                quick ? " --quick" : "", out.c_str());
    return g_interrupted ? 130 : 1;
  }
  return report_zero(pl, quick);
}

}  // namespace r1::cli
