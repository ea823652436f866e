// HTTP transport of the OpenAI-compatible server (see http.h).
#include "server/http.h"

#include <httplib.h>
#include <sys/socket.h>

#include <ctime>
#include <thread>

#include <fmt/format.h>

#include "tokenizer/reasoning.h"

namespace r1::server {
namespace {

// "application/json; charset=utf-8" rather than "application/json": cpp-httplib compresses only
// the exact type, and a compressed stream buffers the probes that detect a departed client.
constexpr const char* kJson = "application/json; charset=utf-8";
constexpr const char* kSse = "text/event-stream";

std::string endpoint_of(const std::string& path) {
  if (path.ends_with("/chat/completions")) return "chat_completions";
  if (path.ends_with("/completions")) return "completions";
  if (path.find("/models") != std::string::npos) return "models";
  if (path == "/health") return "health";
  if (path == "/metrics") return "metrics";
  return "other";
}

ApiError server_error(int status, std::string message, std::string code = "") {
  ApiError e;
  e.status = status;
  e.type = status == 429 ? "rate_limit_error" : "server_error";
  e.message = std::move(message);
  e.code = std::move(code);
  return e;
}

// Accumulates the events of a non-streamed job into the final choices.
struct Collected {
  std::vector<Choice> choices;
  Usage usage;
  bool done = false;
  bool failed = false;
  ApiError error;
};

void collect(Collected& c, JobEvent& ev) {
  switch (ev.kind) {
    case JobEvent::Kind::Delta: {
      auto& ch = c.choices[static_cast<size_t>(ev.delta.index)];
      ch.content += ev.delta.content;
      ch.reasoning_content += ev.delta.reasoning_content;
      ch.logprobs = ev.delta.logprobs;
      for (auto& t : ev.delta.token_logprobs) ch.token_logprobs.push_back(std::move(t));
      if (ev.delta.finish != FinishReason::None) ch.finish = ev.delta.finish;
      break;
    }
    case JobEvent::Kind::Done:
      c.usage = ev.usage;
      c.done = true;
      break;
    case JobEvent::Kind::Failed:
      c.error = ev.error;
      c.failed = true;
      break;
  }
}

// Ids of a choice's tool calls: unique per response (the response id) and choice.
std::string tool_call_id_prefix(const ResponseMeta& meta, size_t choice) {
  const size_t dash = meta.id.find('-');
  return fmt::format("call_{}{}", dash == std::string::npos ? meta.id : meta.id.substr(dash + 1), choice);
}

// One tool-call parser per choice of a streamed response (none when calls are not parsed).
std::shared_ptr<std::vector<ToolCallParser>> tool_parsers(ToolFormat format, const ResponseMeta& meta, int n) {
  auto v = std::make_shared<std::vector<ToolCallParser>>();
  if (format == ToolFormat::None) return v;
  for (int i = 0; i < n; ++i) v->emplace_back(format, tool_call_id_prefix(meta, static_cast<size_t>(i)));
  return v;
}

// A streamed delta through its choice's parser: content up to a call marker goes out as it
// comes; the calls go out whole with the last delta, whose finish becomes "tool_calls".
void split_tool_calls(ToolCallParser& p, ChunkDelta& d) {
  d.content = p.push(d.content);
  if (d.finish == FinishReason::None) return;
  auto f = p.finish();
  d.content += f.content;
  d.tool_calls = std::move(f.calls);
  if (!d.tool_calls.empty() && d.finish == FinishReason::Stop) d.finish = FinishReason::ToolCalls;
}

}  // namespace

HttpServer::HttpServer(ServerOptions opts, Backend& backend, AdmissionQueue& queue,
                       Batcher& batcher, Metrics& metrics)
    : opts_(std::move(opts)),
      backend_(backend),
      queue_(queue),
      batcher_(batcher),
      metrics_(metrics),
      svr_(std::make_unique<httplib::Server>()),
      created_(static_cast<int64_t>(std::time(nullptr))),
      rng_(std::random_device{}()) {
  // One thread per open connection: streams hold theirs for the whole generation, so the pool
  // must cover every slot, every queued request and a few for /health and /metrics.
  const size_t threads = opts_.http_threads > 0
                             ? static_cast<size_t>(opts_.http_threads)
                             : static_cast<size_t>(batcher_.parallel() + opts_.max_queue + 16);
  svr_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr_->set_payload_max_length(opts_.max_body_bytes);
  svr_->set_keep_alive_timeout(2);
  // httplib closes a keep-alive connection after 5 requests by default: clients would reconnect
  // constantly under load.
  svr_->set_keep_alive_max_count(100000);
  // Remember the listening socket: bind() raises its backlog (the library listens with 5; 32
  // clients connecting at once overflowed it, and a dropped SYN costs the client 1, 3, 7... s).
  svr_->set_socket_options([this](socket_t sock) {
    httplib::default_socket_options(sock);
    listen_fd_ = sock;
  });
  svr_->set_tcp_nodelay(true);
  install_routes();
}

HttpServer::~HttpServer() { stop(); }

Result<int> HttpServer::bind() {
  int port = opts_.port;
  if (port == 0) {
    port = svr_->bind_to_any_port(opts_.host);
    if (port < 0)
      return make_error("cannot bind {}: not a local address, or no free port", opts_.host);
  } else if (!svr_->bind_to_port(opts_.host, port)) {
    return make_error("cannot bind {}:{} (address in use or not local?); try --port 0",
                      opts_.host, port);
  }
  // Calling listen() again on a listening socket sets its backlog (Linux, BSD).
  if (listen_fd_ >= 0 && ::listen(listen_fd_, opts_.listen_backlog) != 0) {
    return make_error("cannot set the listen backlog to {}", opts_.listen_backlog);
  }
  return port;
}

void HttpServer::listen() { svr_->listen_after_bind(); }

void HttpServer::stop() {
  if (svr_) svr_->stop();
}

void HttpServer::shutdown(std::chrono::milliseconds grace) {
  shutting_down_ = true;
  queue_.close();
  batcher_.wait_idle(grace);
  batcher_.stop();  // fails whatever is left: their waiters send a 503 error and end
  // Let the response threads write their last bytes before the sockets close.
  std::this_thread::sleep_for(opts_.probe_interval * 3);
  svr_->stop();
}

std::string HttpServer::new_id(const char* prefix) {
  std::lock_guard<std::mutex> lock(rng_mu_);
  return fmt::format("{}-{:016x}{:08x}", prefix, rng_(), static_cast<uint32_t>(rng_()));
}

void HttpServer::send_error(httplib::Response& res, const ApiError& e,
                            const std::string& endpoint) {
  res.status = e.status;
  if (e.status == 429 || e.status == 503) res.set_header("Retry-After", "1");
  res.set_content(error_json(e), kJson);
  metrics_.on_request(endpoint, e.status);
}

void HttpServer::install_routes() {
  auto& s = *svr_;
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opts_.api_key.empty() || req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + opts_.api_key) {
      return httplib::Server::HandlerResponse::Unhandled;
    }
    ApiError e;
    e.status = 401;
    e.type = "authentication_error";
    e.code = "invalid_api_key";
    e.message = req.has_header("Authorization")
                    ? "Incorrect API key provided."
                    : "You didn't provide an API key (Authorization: Bearer KEY).";
    send_error(res, e, endpoint_of(req.path));
    return httplib::Server::HandlerResponse::Handled;
  });
  // Statuses httplib sets itself (404 no route, 413 too large, 400 bad HTTP) get an OpenAI body.
  s.set_error_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.type = "not_found_error";
      e.message = fmt::format("Unknown request URL: {} {}", req.method, req.path);
      e.code = "unknown_url";
    } else if (res.status == 413) {
      e.message = fmt::format("request body is larger than the limit of {} bytes", opts_.max_body_bytes);
      e.code = "request_too_large";
    } else {
      e.message = fmt::format("HTTP error {}", res.status);
      if (res.status >= 500) e.type = "server_error";
    }
    res.set_content(error_json(e), kJson);
    metrics_.on_request(endpoint_of(req.path), res.status);
  });
  s.set_exception_handler([this](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown error";
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      what = ex.what();
    } catch (...) {
    }
    send_error(res, server_error(500, "internal error: " + what), endpoint_of(req.path));
  });

  auto health = [this](const httplib::Request&, httplib::Response& res) {
    if (shutting_down_) {
      res.status = 503;
      res.set_content(R"({"status":"shutting down"})", kJson);
    } else {
      res.status = 200;  // httplib fills in 200 only after the handler, too late for the count
      res.set_content(R"({"status":"ok"})", kJson);
    }
    metrics_.on_request("health", res.status);
  };
  s.Get("/health", health);
  s.Get("/v1/health", health);
  auto metrics = [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(metrics_.render(batcher_.parallel()), "text/plain; version=0.0.4");
    metrics_.on_request("metrics", 200);
  };
  s.Get("/metrics", metrics);
  auto models = [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(models_json(backend_.model_id(), created_), kJson);
    metrics_.on_request("models", 200);
  };
  s.Get("/v1/models", models);
  s.Get("/models", models);
  auto model = [this](const httplib::Request& req, httplib::Response& res) {
    const std::string id = req.matches[1];
    if (id != backend_.model_id()) {
      ApiError e;
      e.status = 404;
      e.type = "not_found_error";
      e.param = "model";
      e.code = "model_not_found";
      e.message = fmt::format("The model '{}' does not exist", id);
      return send_error(res, e, "models");
    }
    res.set_content(model_json(id, created_), kJson);
    metrics_.on_request("models", 200);
  };
  s.Get(R"(/v1/models/(.+))", model);
  s.Get(R"(/models/(.+))", model);
  auto chat = [this](const httplib::Request& req, httplib::Response& res) { handle_generation(req, res, true); };
  auto completions = [this](const httplib::Request& req, httplib::Response& res) { handle_generation(req, res, false); };
  s.Post("/v1/chat/completions", chat);
  s.Post("/chat/completions", chat);
  s.Post("/v1/completions", completions);
  s.Post("/completions", completions);
}

void HttpServer::handle_generation(const httplib::Request& req, httplib::Response& res,
                                   bool chat) {
  const std::string endpoint = chat ? "chat_completions" : "completions";
  auto parsed = chat ? parse_chat_request(req.body) : parse_completion_request(req.body);
  if (auto* e = std::get_if<ApiError>(&parsed)) return send_error(res, *e, endpoint);
  GenerationRequest& r = std::get<GenerationRequest>(parsed);

  if (!r.model.empty() && r.model != backend_.model_id()) {
    ApiError e;
    e.status = 404;
    e.type = "not_found_error";
    e.param = "model";
    e.code = "model_not_found";
    e.message = fmt::format("The model '{}' does not exist; this server serves '{}'", r.model,
                            backend_.model_id());
    return send_error(res, e, endpoint);
  }
  if (shutting_down_) {
    return send_error(res, server_error(503, "the server is shutting down", "server_shutting_down"), endpoint);
  }
  if (r.n > batcher_.parallel()) {
    ApiError e;
    e.param = "n";
    e.code = "invalid_value";
    e.message = fmt::format("'n' = {} exceeds the server's parallel decode slots ({})", r.n, batcher_.parallel());
    return send_error(res, e, endpoint);
  }

  // Tools: offered through the template in the model's own format; a required or named call is
  // forced by a grammar over that format.
  const bool use_tools = chat && r.tool_choice != ToolChoice::None;
  const ToolFormat tool_format = use_tools ? backend_.tool_format() : ToolFormat::None;
  std::vector<ChatMessage> messages = r.messages;
  nlohmann::ordered_json template_kwargs = r.chat_template_kwargs;
  if (use_tools) {
    if (tool_format == ToolFormat::None) {
      ApiError e;
      e.param = "tools";
      e.code = "tools_unsupported";
      e.message = "this model's chat template has no tool-call format (DeepSeek's tool-call tokens or "
                  "Qwen's <tool_call>), so 'tools' cannot be used with it; start the server with a "
                  "--chat-template that supports tools";
      return send_error(res, e, endpoint);
    }
    if (tool_format == ToolFormat::Qwen) {
      nlohmann::ordered_json tools = nlohmann::ordered_json::array();
      for (const auto& t : r.tools) {
        tools.push_back({{"type", "function"},
                         {"function", {{"name", t.name}, {"description", t.description}, {"parameters", t.parameters}}}});
      }
      template_kwargs["tools"] = std::move(tools);
    } else {
      // DeepSeek's templates print tool calls and results but not the tools on offer.
      const std::string prompt = deepseek_tools_prompt(r.tools);
      if (!messages.empty() && (messages[0].role == "system" || messages[0].role == "developer")) {
        messages[0].content += "\n\n" + prompt;
      } else {
        ChatMessage sys;
        sys.role = "system";
        sys.content = prompt;
        messages.insert(messages.begin(), std::move(sys));
      }
    }
  }
  auto job = std::make_shared<Job>();
  if (r.tool_choice == ToolChoice::Required || r.tool_choice == ToolChoice::Named) {
    auto text = tool_call_gbnf(tool_format, r.tools, r.tool_choice == ToolChoice::Named ? r.tool_choice_index : -1,
                               r.parallel_tool_calls);
    auto parsed = text.ok() ? grammar::parse_gbnf(text.value()) : Result<std::shared_ptr<const grammar::Grammar>>(make_error("{}", text.message()));
    if (!parsed.ok()) {
      ApiError e;
      e.param = "tools";
      e.code = "unsupported_json_schema";
      e.message = parsed.message();
      return send_error(res, e, endpoint);
    }
    job->grammar = backend_.grammars().get(text.value(), parsed.value());
  }

  job->kind = r.kind;
  if (chat) {
    auto rendered = backend_.render_chat(messages, template_kwargs);
    if (auto* e = std::get_if<ApiError>(&rendered)) return send_error(res, *e, endpoint);
    const std::string& prompt = std::get<std::string>(rendered);
    job->prompt_tokens = backend_.tokenize(prompt, false);
    // The R1 templates open the reasoning block in the prompt ("...<｜Assistant｜><think>\n").
    job->prompt_opens_think = tok::prompt_ends_in_reasoning(prompt);
  } else if (r.prompt_is_tokens) {
    for (size_t i = 0; i < r.prompt_tokens.size(); ++i) {
      if (r.prompt_tokens[i] >= backend_.vocab_size()) {
        ApiError e;
        e.param = fmt::format("prompt[{}]", i);
        e.code = "invalid_value";
        e.message = fmt::format("token id {} is out of range (vocabulary size {})", r.prompt_tokens[i], backend_.vocab_size());
        return send_error(res, e, endpoint);
      }
    }
    job->prompt_tokens = std::move(r.prompt_tokens);
  } else {
    job->prompt_tokens = backend_.tokenize(r.prompt, true);
  }
  const int64_t n_prompt = static_cast<int64_t>(job->prompt_tokens.size());
  const int64_t n_ctx = backend_.n_ctx();
  if (n_prompt == 0) {
    ApiError e;
    e.param = chat ? "messages" : "prompt";
    e.code = "invalid_value";
    e.message = "the prompt is empty after tokenization";
    return send_error(res, e, endpoint);
  }
  if (n_prompt >= n_ctx || (r.max_tokens && n_prompt + *r.max_tokens > n_ctx)) {
    ApiError e = context_length_error(n_ctx, n_prompt, r.max_tokens.value_or(0));
    if (!chat) e.param = "prompt";
    return send_error(res, e, endpoint);
  }
  job->max_tokens = r.max_tokens.value_or(n_ctx - n_prompt);
  job->n = r.n;
  job->stop = r.stop;
  job->sampling = backend_.default_sampling();
  if (r.temperature) job->sampling.temperature = *r.temperature;
  if (r.top_p) job->sampling.top_p = *r.top_p;
  if (r.frequency_penalty) job->sampling.frequency_penalty = *r.frequency_penalty;
  if (r.presence_penalty) job->sampling.presence_penalty = *r.presence_penalty;
  if (r.top_k) job->sampling.top_k = *r.top_k;
  if (r.min_p) job->sampling.min_p = *r.min_p;
  if (r.repetition_penalty) job->sampling.repeat_penalty = *r.repetition_penalty;
  job->sampling.top_logprobs = r.logprobs ? r.top_logprobs : -1;
  job->max_reasoning_tokens = r.max_reasoning_tokens.value_or(-1);
  if (r.grammar) job->grammar = backend_.grammars().get(r.grammar_text, r.grammar);
  const ToolFormat parse_calls = use_tools ? tool_format : ToolFormat::None;
  // The first grammar request builds the vocabulary's token table here, not on the decode thread.
  if (job->grammar) (void)backend_.token_table();
  if (r.seed) {
    job->sampling.seed = *r.seed;
  } else {
    std::lock_guard<std::mutex> lock(rng_mu_);
    job->sampling.seed = rng_();
  }

  switch (queue_.submit(job)) {
    case AdmissionQueue::Admit::Ok: break;
    case AdmissionQueue::Admit::QueueFull:
      return send_error(res, server_error(429, fmt::format("too many requests are waiting ({} queued); retry later", queue_.size()), "queue_full"), endpoint);
    case AdmissionQueue::Admit::ShuttingDown:
      return send_error(res, server_error(503, "the server is shutting down", "server_shutting_down"), endpoint);
  }
  metrics_.on_request(endpoint, 200);

  ResponseMeta meta;
  meta.id = new_id(chat ? "chatcmpl" : "cmpl");
  meta.created = static_cast<int64_t>(std::time(nullptr));
  meta.model = backend_.model_id();
  const auto probe = opts_.probe_interval;
  // The releaser runs however the response ends; a job not finished by then lost its client.
  auto releaser = [this, job](bool) {
    job->cancel();
    queue_.notify();
  };

  if (r.stream) {
    const bool include_usage = r.include_usage;
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        kSse,
        [job, meta, chat, include_usage, probe, parsers = tool_parsers(parse_calls, meta, r.n)](size_t, httplib::DataSink& sink) {
          std::vector<JobEvent> events;
          if (!job->wait_events(events, probe)) {
            // Nothing new: an SSE comment both keeps proxies awake and finds departed clients.
            static constexpr char kPing[] = ": ping\n\n";
            if (!sink.write(kPing, sizeof(kPing) - 1)) job->cancel();
            return !job->cancelled();
          }
          std::string out;
          bool end = false;
          for (auto& ev : events) {
            if (ev.kind == JobEvent::Kind::Delta) {
              if (!parsers->empty()) split_tool_calls((*parsers)[static_cast<size_t>(ev.delta.index)], ev.delta);
              out += chat ? chat_chunk_sse(meta, ev.delta, include_usage)
                          : completion_chunk_sse(meta, ev.delta, include_usage);
            } else if (ev.kind == JobEvent::Kind::Done) {
              if (include_usage) out += usage_chunk_sse(meta, chat, ev.usage);
              out += done_sse();
              end = true;
            } else {
              out += error_sse(ev.error);
              out += done_sse();
              end = true;
            }
          }
          if (!sink.write(out.data(), out.size())) {
            job->cancel();
            return false;
          }
          if (end) sink.done();
          return true;
        },
        releaser);
    return;
  }

  auto collected = std::make_shared<Collected>();
  collected->choices.resize(static_cast<size_t>(r.n));
  auto last_write = std::make_shared<Clock::time_point>(Clock::now());
  res.set_chunked_content_provider(
      kJson,
      [job, meta, chat, probe, collected, last_write, parse_calls](size_t, httplib::DataSink& sink) {
        std::vector<JobEvent> events;
        job->wait_events(events, probe);
        for (auto& ev : events) collect(*collected, ev);
        if (!collected->done && !collected->failed) {
          // JSON allows leading whitespace: a space per probe interval, whether tokens are coming
          // or not, finds a departed client (writing to its closed socket fails) and frees its
          // slots.
          if (Clock::now() - *last_write >= probe) {
            *last_write = Clock::now();
            if (!sink.write(" ", 1)) {
              job->cancel();
              return false;
            }
          }
          return !job->cancelled();
        }
        if (parse_calls != ToolFormat::None && collected->done) {
          for (size_t i = 0; i < collected->choices.size(); ++i) {
            Choice& c = collected->choices[i];
            auto f = ToolCallParser::parse(parse_calls, c.content, tool_call_id_prefix(meta, i));
            c.content = std::move(f.content);
            c.tool_calls = std::move(f.calls);
            if (!c.tool_calls.empty() && c.finish == FinishReason::Stop) c.finish = FinishReason::ToolCalls;
          }
        }
        // A failure after the 200 went out (shutdown, engine error) can only go in the body.
        const std::string body =
            collected->failed ? error_json(collected->error)
            : chat            ? chat_response_json(meta, collected->choices, collected->usage)
                              : completion_response_json(meta, collected->choices, collected->usage);
        if (!sink.write(body.data(), body.size())) return false;
        sink.done();
        return true;
      },
      releaser);
}

}  // namespace r1::server
