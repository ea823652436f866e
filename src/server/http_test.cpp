// The HTTP transport end to end over loopback, with the FakeBackend behind it.
#include "server/http.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <thread>

#include "server/fake_backend.h"

namespace r1::server {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct Server {
  FakeBackend backend;
  AdmissionQueue queue;
  Metrics metrics;
  Batcher batcher;
  HttpServer http;
  std::thread thread;
  int port = 0;

  Server(FakeBackend::Options o, ServerOptions so, int parallel = 2, size_t max_queue = 8)
      : backend(std::move(o)),
        queue(max_queue),
        batcher(backend, queue, metrics, parallel),
        http([&] {
          so.port = 0;
          so.probe_interval = 20ms;
          return so;
        }(), backend, queue, batcher, metrics) {
    batcher.start();
    auto p = http.bind();
    EXPECT_TRUE(p.ok()) << p.message();
    port = p.ok() ? *p : 0;
    thread = std::thread([this] { http.listen(); });
  }
  ~Server() {
    http.shutdown(1000ms);
    thread.join();
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(10, 0);
    return c;
  }
};

FakeBackend::Options fake(std::string script, bool opens_think = false) {
  FakeBackend::Options o;
  o.script = std::move(script);
  o.template_opens_think = opens_think;
  o.n_ctx = 64;
  return o;
}

json error_of(const httplib::Result& r) {
  EXPECT_TRUE(r);
  if (!r) return json();
  json j = json::parse(r->body, nullptr, false);
  EXPECT_TRUE(j.contains("error")) << r->body;
  for (const char* k : {"message", "type", "param", "code"}) EXPECT_TRUE(j["error"].contains(k)) << k;
  return j["error"];
}

TEST(Http, ChatNonStreamingWithReasoning) {
  Server s(fake("2+2 is 4</think>\n\nFour.", true), {});
  auto c = s.client();
  auto r = c.Post("/v1/chat/completions",
                  R"({"model":"fake-model","messages":[{"role":"user","content":"2+2?"}]})",
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "fake-model");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "Four.");
  EXPECT_EQ(j["choices"][0]["message"]["reasoning_content"], "2+2 is 4");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["completion_tokens"], 24);  // 23 bytes + EOS
  EXPECT_EQ(j["usage"]["completion_tokens_details"]["reasoning_tokens"], 16);
}

TEST(Http, ChatStreamingSendsReasoningThenContentThenDone) {
  Server s(fake("hmm</think>ok", true), {});
  auto c = s.client();
  auto r = c.Post("/v1/chat/completions",
                  R"({"messages":[{"role":"user","content":"x"}],"stream":true,
                      "stream_options":{"include_usage":true}})",
                  "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_EQ(r->get_header_value("Content-Type"), "text/event-stream");
  std::string reasoning, content, finish;
  bool saw_usage = false, content_started = false, reasoning_after_content = false;
  size_t pos = 0;
  std::vector<std::string> events;
  while ((pos = r->body.find("data: ", pos)) != std::string::npos) {
    size_t end = r->body.find("\n\n", pos);
    events.push_back(r->body.substr(pos + 6, end - pos - 6));
    pos = end;
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back(), "[DONE]");
  for (size_t i = 0; i + 1 < events.size(); ++i) {
    json j = json::parse(events[i]);
    if (j["choices"].empty()) {
      saw_usage = true;
      EXPECT_EQ(j["usage"]["completion_tokens"], 14);
      continue;
    }
    const json& d = j["choices"][0]["delta"];
    if (d.contains("reasoning_content")) {
      reasoning += d["reasoning_content"];
      reasoning_after_content |= content_started;
    }
    if (d.contains("content")) {
      content += d["content"];
      content_started = true;
    }
    if (!j["choices"][0]["finish_reason"].is_null()) finish = j["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(reasoning, "hmm");
  EXPECT_EQ(content, "ok");
  EXPECT_EQ(finish, "stop");
  EXPECT_TRUE(saw_usage);
  EXPECT_FALSE(reasoning_after_content);
}

TEST(Http, CompletionsModelsHealthMetrics) {
  Server s(fake("abc"), {});
  auto c = s.client();
  auto r = c.Post("/v1/completions", R"({"prompt":"say","max_tokens":2})", "application/json");
  ASSERT_TRUE(r);
  json j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"], "ab");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  auto m = c.Get("/v1/models");
  ASSERT_TRUE(m);
  EXPECT_EQ(json::parse(m->body)["data"][0]["id"], "fake-model");
  EXPECT_EQ(c.Get("/v1/models/fake-model")->status, 200);
  EXPECT_EQ(c.Get("/v1/models/other")->status, 404);
  auto h = c.Get("/health");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, 200);
  auto met = c.Get("/metrics");
  ASSERT_TRUE(met);
  EXPECT_NE(met->body.find("r1_requests_total{endpoint=\"completions\",status=\"200\"} 1"), std::string::npos) << met->body;
  EXPECT_NE(met->body.find("r1_generation_tokens_total 2"), std::string::npos);
}

TEST(Http, ErrorsHaveTheRightStatusAndShape) {
  ServerOptions so;
  so.max_body_bytes = 4096;
  Server s(fake("abc"), so);
  auto c = s.client();
  const std::string user = R"("messages":[{"role":"user","content":"x"}])";
  struct Case {
    std::string path, body;
    int status;
  };
  const Case cases[] = {
      {"/v1/chat/completions", "{not json", 400},
      {"/v1/chat/completions", R"({"messages":[]})", 400},
      {"/v1/chat/completions", "{" + user + R"(,"temperature":"hot"})", 400},
      {"/v1/chat/completions", "{" + user + R"(,"model":"gpt-4"})", 404},
      {"/v1/chat/completions", "{" + user + R"(,"max_tokens":1000})", 400},
      {"/v1/chat/completions", "{" + user + R"(,"n":5})", 400},
      {"/v1/chat/completions", R"({"messages":[{"role":"user","content":")" + std::string(100, 'a') + R"("}]})", 400},
      {"/v1/chat/completions", std::string(5000, ' '), 413},
      {"/v1/completions", R"({"prompt":[999]})", 400},
      {"/v1/nothing", "{}", 404},
  };
  for (const auto& k : cases) {
    auto r = c.Post(k.path, k.body, "application/json");
    ASSERT_TRUE(r) << k.body.substr(0, 80);
    EXPECT_EQ(r->status, k.status) << k.body.substr(0, 80) << " -> " << r->body;
    error_of(r);
  }
  // The context error carries the numbers: 64-token context, 23-token prompt.
  auto r = c.Post("/v1/chat/completions", "{" + user + R"(,"max_tokens":1000})", "application/json");
  EXPECT_NE(error_of(r)["message"].get<std::string>().find("64"), std::string::npos);
  // And the server still serves.
  auto ok = c.Post("/v1/chat/completions", "{" + user + "}", "application/json");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

TEST(Http, ApiKeyIsRequiredWhenSet) {
  ServerOptions so;
  so.api_key = "sekret";
  Server s(fake("abc"), so);
  auto c = s.client();
  auto r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(error_of(r)["type"], "authentication_error");
  EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer wrong"}})->status, 401);
  EXPECT_EQ(c.Get("/v1/models", {{"Authorization", "Bearer sekret"}})->status, 200);
  EXPECT_EQ(c.Get("/health")->status, 200);  // liveness probes need no key
}

TEST(Http, TooManyQueuedGets429) {
  // One slot, one queue place. States are reached by waiting on conditions, not staggered
  // sleeps: request A decodes (a live sequence), B waits in the queue, then C and D must get 429.
  // A's 120 tokens x 5 ms (0.6 s, seconds on a loaded machine) only bound how long those waits
  // may take.
  FakeBackend::Options o = fake(std::string(120, 'w'));
  o.n_ctx = 1024;
  o.step_delay = 5ms;
  Server s(o, {}, /*parallel=*/1, /*max_queue=*/1);
  const std::string body = R"({"messages":[{"role":"user","content":"x"}],"max_tokens":120})";
  auto wait_for = [](const std::function<bool()>& cond) {
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!cond() && std::chrono::steady_clock::now() < end) std::this_thread::sleep_for(1ms);
    return cond();
  };
  std::atomic<int> status_a{0}, status_b{0};
  std::thread ta([&] {
    auto r = s.client().Post("/v1/chat/completions", body, "application/json");
    status_a = r ? r->status : -1;
  });
  ASSERT_TRUE(wait_for([&] { return s.backend.live_sequences() == 1; }));
  std::thread tb([&] {
    auto r = s.client().Post("/v1/chat/completions", body, "application/json");
    status_b = r ? r->status : -1;
  });
  ASSERT_TRUE(wait_for([&] { return s.queue.size() == 1; }));
  EXPECT_EQ(s.backend.live_sequences(), 1) << "A ended before C and D were sent";
  for (int i = 0; i < 2; ++i) {  // C and D: the queue is full
    auto c = s.client();
    auto r = c.Post("/v1/chat/completions", body, "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429) << r->body;
    EXPECT_EQ(json::parse(r->body)["error"]["type"], "rate_limit_error");
  }
  ta.join();
  tb.join();
  EXPECT_EQ(status_a, 200);
  EXPECT_EQ(status_b, 200);
}

TEST(Http, DisconnectedClientFreesItsSlot) {
  FakeBackend::Options o = fake(std::string(10000, 'q'));
  o.n_ctx = 20000;
  o.step_delay = 2ms;
  Server s(o, {}, /*parallel=*/1);
  {
    // A streaming client that reads a little and hangs up.
    httplib::Client c("127.0.0.1", s.port);
    int chunks = 0;
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = R"({"messages":[{"role":"user","content":"x"}],"stream":true})";
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return ++chunks < 3; };
    c.send(req);
  }
  // The slot must come back long before the 10000-token generation would end (~20 s).
  EXPECT_TRUE(s.batcher.wait_idle(3000ms));
  EXPECT_EQ(s.backend.live_sequences(), 0);
  auto c = s.client();
  auto r = c.Post("/v1/completions", R"({"prompt":"x","max_tokens":3})", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(json::parse(r->body)["choices"][0]["text"], "qqq");
}

TEST(Http, DisconnectedNonStreamingClientFreesItsSlot) {
  // Tokens keep coming every 2 ms (faster than the 20 ms probe), so only the periodic probe
  // write can find that the client left.
  FakeBackend::Options o = fake(std::string(10000, 'q'));
  o.n_ctx = 20000;
  o.step_delay = 2ms;
  Server s(o, {}, /*parallel=*/1);
  {
    // A non-streaming client that hangs up once the response has started (a client timeout).
    httplib::Client c("127.0.0.1", s.port);
    httplib::Request req;
    req.method = "POST";
    req.path = "/v1/chat/completions";
    req.body = R"({"messages":[{"role":"user","content":"x"}]})";
    req.set_header("Content-Type", "application/json");
    req.content_receiver = [&](const char*, size_t, uint64_t, uint64_t) { return false; };
    c.send(req);
  }
  EXPECT_TRUE(s.batcher.wait_idle(3000ms));  // the whole generation would take ~20 s
  EXPECT_EQ(s.backend.live_sequences(), 0);
}

TEST(Http, ListenBacklogHoldsABurstOfConnections) {
  // Nobody accepts (listen() is not running): the kernel completes handshakes only up to the
  // backlog. 64 clients connecting at once must all get in (httplib's own backlog is 5; the
  // dropped SYNs of the rest cost them seconds of retransmission under load).
  FakeBackend backend(fake("abc"));
  AdmissionQueue queue(8);
  Metrics metrics;
  Batcher batcher(backend, queue, metrics, 1);
  ServerOptions so;
  so.port = 0;
  HttpServer http(so, backend, queue, batcher, metrics);
  auto port = http.bind();
  ASSERT_TRUE(port.ok()) << port.message();
  constexpr int kClients = 64;
  std::vector<int> fds;
  for (int i = 0; i < kClients; ++i) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    ::fcntl(fd, F_SETFL, O_NONBLOCK);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(*port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    fds.push_back(fd);
  }
  int connected = 0;
  for (int fd : fds) {
    pollfd p{fd, POLLOUT, 0};
    int err = -1;
    socklen_t len = sizeof(err);
    if (::poll(&p, 1, 500) == 1 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0) ++connected;
    ::close(fd);
  }
  EXPECT_EQ(connected, kClients);
}

}  // namespace
}  // namespace r1::server
