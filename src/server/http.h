// The server's transport layer: HTTP/1.1 over cpp-httplib, Bearer auth, body size limit (413),
// routing to the OpenAI endpoints, server-sent events for streams, and detection of clients that
// went away (their job is cancelled and its decode slots freed at the next step).
// Routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models[/ID], GET /health,
// GET /metrics (also without the /v1 prefix, as llama.cpp's server accepts them).
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <random>
#include <string>

#include "core/result.h"
#include "server/backend.h"
#include "server/batcher.h"
#include "server/metrics.h"
#include "server/queue.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace r1::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                          // 0: let the OS pick a free port
  std::string api_key;                      // empty: no auth; else "Authorization: Bearer KEY"
  size_t max_body_bytes = 8u << 20;         // larger bodies get 413
  int http_threads = 0;                     // 0: parallel + max_queue + 16
  int max_queue = 64;                       // for http_threads' default only (queue owns the limit)
  int listen_backlog = 1024;                // pending connections the kernel holds before accept
  std::chrono::milliseconds probe_interval{100};  // how often an idle response checks its client
};

class HttpServer {
 public:
  /// Everything passed in must outlive the server. The batcher must be started by the caller.
  HttpServer(ServerOptions opts, Backend& backend, AdmissionQueue& queue, Batcher& batcher,
             Metrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Binds host:port (port 0 picks a free one). Returns the bound port.
  /// Errors: address in use, bad host.
  Result<int> bind();
  /// Serves on the bound socket until stop(); blocks the calling thread.
  void listen();
  /// Graceful shutdown: refuses new generations (503), lets in-flight ones finish for up to
  /// `grace` (then cancels them: their clients get a 503 error), and stops listening.
  void shutdown(std::chrono::milliseconds grace);
  /// Stops listening at once (in-flight handlers finish on their own).
  void stop();

 private:
  void install_routes();
  void handle_generation(const httplib::Request& req, httplib::Response& res, bool chat);
  void send_error(httplib::Response& res, const ApiError& e, const std::string& endpoint);
  std::string new_id(const char* prefix);

  ServerOptions opts_;
  Backend& backend_;
  AdmissionQueue& queue_;
  Batcher& batcher_;
  Metrics& metrics_;
  std::unique_ptr<httplib::Server> svr_;
  int listen_fd_ = -1;  // the listening socket (its backlog is raised after bind)
  std::atomic<bool> shutting_down_{false};
  int64_t created_ = 0;  // unix seconds at start: the model's "created"
  std::mutex rng_mu_;
  std::mt19937_64 rng_;
};

}  // namespace r1::server
