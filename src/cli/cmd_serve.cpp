// `r1 serve MODEL`: an OpenAI-compatible HTTP server (chat/completions with DeepSeek's
// reasoning_content, completions, models, health, metrics) with continuous batching over
// --parallel decode slots. Prints "r1 serve: listening on http://HOST:PORT" on stderr once the
// socket is bound (tests parse it); SIGTERM/SIGINT shut it down gracefully.
#include <cblas.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>

#include <fmt/format.h>

#include "cli/cli_common.h"
#include "cli/load_flags.h"
#include "cli/commands.h"
#include "server/batcher.h"
#include "server/http.h"
#include "server/model_backend.h"

namespace r1::cli {
namespace {

// The write end of the pipe the signal handler reports SIGTERM/SIGINT on. A signal handler can
// reach nothing else; blocking the signals and using sigwait does not work here because
// libraries (OpenBLAS) start threads before main that would take the signal instead.
int g_signal_pipe_write = -1;

extern "C" void on_stop_signal(int sig) {
  const char b = static_cast<char>(sig);
  if (g_signal_pipe_write >= 0) (void)!write(g_signal_pipe_write, &b, 1);
}

}  // namespace

int cmd_serve(int argc, char** argv) {
  CLI::App app{"Serve a model over an OpenAI-compatible HTTP API (POST /v1/chat/completions, "
               "/v1/completions; GET /v1/models, /health, /metrics).",
               "serve"};
  std::string model_path;
  server::ServerOptions so;
  int parallel = 4;
  int64_t ctx_size = 4096;
  int threads = default_threads();
  int max_queue = 64;
  std::string model_name;
  std::string chat_template;
  double shutdown_timeout_s = 30.0;
  SamplingFlags sampling;

  app.add_option("MODEL", model_path, "model: a Hugging Face directory or a .gguf file")->required();
  app.add_option("--host", so.host, "address to bind (loopback by default; 0.0.0.0 exposes it)")
      ->capture_default_str();
  app.add_option("--port", so.port, "TCP port; 0 = pick a free port (printed on stderr)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  app.add_option("--api-key", so.api_key,
                 "require 'Authorization: Bearer KEY' on every endpoint but /health");
  app.add_option("--parallel", parallel,
                 "decode slots: sequences advanced together in each step (continuous batching)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("-c,--ctx-size", ctx_size,
                 "context length per sequence in tokens (prompt + completion); 0 = the model's")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("-t,--threads", threads, "threads for the forward passes (default: physical cores)")
      ->check(CLI::PositiveNumber);
  app.add_option("--max-queue", max_queue,
                 "requests that may wait for a slot; more get 429 Too Many Requests")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  app.add_option("--model-name", model_name,
                 "the model id clients send and /v1/models lists (default: the model's name)");
  app.add_option("--chat-template", chat_template,
                 "chat template: a Jinja file or a tokenizer_config.json (default: the model's)");
  app.add_option("--max-body-bytes", so.max_body_bytes, "largest request body; larger gets 413")
      ->capture_default_str();
  app.add_option("--shutdown-timeout", shutdown_timeout_s,
                 "seconds in-flight requests may take to finish after SIGTERM before they are "
                 "cancelled")
      ->capture_default_str();
  sampling.add_to(app);
  add_load_flags(app);
  if (int rc = parse_args(app, argc, argv); rc >= 0) return rc;

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    std::fprintf(stderr, "r1 serve: cannot create the signal pipe\n");
    return 1;
  }
  g_signal_pipe_write = pipe_fds[1];
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not kill the server

  // F32 matmuls of a batched step go through OpenBLAS, whose own threads would otherwise take
  // every core (and spin in sched_yield between calls) whatever --threads says.
  openblas_set_num_threads(threads);
  auto lm = load_model_and_tokenizer(model_path, threads);
  if (!lm.ok()) {
    std::fprintf(stderr, "r1 serve: %s\n", lm.message().c_str());
    return 1;
  }
  const auto& info = lm->model->info();

  std::optional<tok::ChatTemplate> tmpl;
  std::string tmpl_source = chat_template;
  if (tmpl_source.empty() && std::filesystem::is_directory(model_path)) tmpl_source = model_path;
  if (!tmpl_source.empty()) {
    auto t = tok::ChatTemplate::from_path(tmpl_source);
    if (t.ok()) {
      tmpl = std::move(t).value();
    } else if (!chat_template.empty()) {
      std::fprintf(stderr, "r1 serve: --chat-template: %s\n", t.message().c_str());
      return 1;
    } else {
      std::fprintf(stderr, "r1 serve: warning: no chat template (%s); chat requests will get 400\n",
                   t.message().c_str());
    }
  }

  server::ModelBackend::Options bo;
  bo.model_id = model_name;
  bo.n_ctx = ctx_size;
  bo.max_pooled_sessions = parallel;
  auto backend = server::ModelBackend::create(*lm->model, *lm->tokenizer, std::move(tmpl),
                                              lm->eos_ids(), sampling.resolve(info.is_r1), bo);
  if (!backend.ok()) {
    std::fprintf(stderr, "r1 serve: %s\n", backend.message().c_str());
    return 1;
  }

  server::AdmissionQueue queue(static_cast<size_t>(max_queue));
  server::Metrics metrics;
  server::Batcher batcher(**backend, queue, metrics, parallel);
  so.max_queue = max_queue;
  server::HttpServer http(so, **backend, queue, batcher, metrics);
  auto port = http.bind();
  if (!port.ok()) {
    std::fprintf(stderr, "r1 serve: %s\n", port.message().c_str());
    return 1;
  }
  batcher.start();

  std::thread sig_thread([&] {
    char sig = 0;
    while (read(pipe_fds[0], &sig, 1) < 0 && errno == EINTR) {
    }
    if (sig == 0) return;  // woken by main to exit, not by a signal
    std::fprintf(stderr, "r1 serve: %s: finishing in-flight requests (up to %.0f s), then exiting\n",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT", shutdown_timeout_s);
    http.shutdown(std::chrono::milliseconds(static_cast<int64_t>(shutdown_timeout_s * 1000)));
  });

  std::fprintf(stderr,
               "r1 serve: model '%s' (%s, ctx %lld, %d slots, queue %d); listening on http://%s:%d\n",
               (*backend)->model_id().c_str(), info.arch.c_str(),
               static_cast<long long>((*backend)->n_ctx()), parallel, max_queue, so.host.c_str(),
               *port);
  std::fflush(stderr);
  http.listen();

  const char zero = 0;
  (void)!write(pipe_fds[1], &zero, 1);
  sig_thread.join();
  g_signal_pipe_write = -1;
  close(pipe_fds[0]);
  close(pipe_fds[1]);
  batcher.stop();
  std::fprintf(stderr, "r1 serve: stopped (%lld tokens generated)\n",
               static_cast<long long>(metrics.generation_tokens()));
  return 0;
}

}  // namespace r1::cli
