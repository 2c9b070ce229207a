// A team's own service behind streamgate, end to end: the http streaming backend provider and the
// $connect, $disconnect, custom action and $default route integrations, against a scripted fake backend.
#include "integration/harness.hpp"
#include "core/asio.hpp"
#include "provider/local_server.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>

namespace sg::test {
namespace {

namespace json = boost::json;
namespace fs = std::filesystem;
using clock_type = std::chrono::steady_clock;

// ---- the fake backend: one thread per connection, keep-alive, scripted per path ----

void write_all(tcp::socket& s, std::string_view b) { net::write(s, net::buffer(b.data(), b.size())); }

void chunked_head(tcp::socket& s, std::string_view content_type, int status = 200) {
  write_all(s, "HTTP/1.1 " + std::to_string(status) + " OK\r\nContent-Type: " + std::string(content_type) +
                   "\r\nTransfer-Encoding: chunked\r\n\r\n");
}

void chunk(tcp::socket& s, std::string_view data) {
  if (data.empty()) return;  // an empty chunk would end the body
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  write_all(s, std::string(size) + std::string(data) + "\r\n");
}

void end_chunks(tcp::socket& s) { write_all(s, "0\r\n\r\n"); }

void reply(tcp::socket& s, int status, std::string_view content_type, std::string_view body) {
  write_all(s, "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Type: " + std::string(content_type) +
                   "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body));
}

class fake_backend {
 public:
  using request = http::request<http::string_body>;
  using handler = std::function<void(tcp::socket&, const request&)>;
  struct call {
    std::string path, target, body;
    std::map<std::string, std::string> headers;  // lower-case names
    clock_type::time_point at;
    json::object json() const { return json::parse(body).as_object(); }
  };

  explicit fake_backend(std::map<std::string, handler> handlers)
      : handlers_(std::move(handlers)), server_([this](tcp::socket& s, int) { serve(s); }) {}

  std::uint16_t port() const { return server_.port(); }
  std::string url(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(port()) + path; }

  std::vector<call> calls(const std::string& path) const {
    std::lock_guard lock(mu_);
    std::vector<call> out;
    for (auto& c : calls_)
      if (c.path == path) out.push_back(c);
    return out;
  }
  /// Waits (bounded) until `path` was called `n` times.
  bool wait_calls(const std::string& path, std::size_t n, std::chrono::milliseconds timeout = 5s) const {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return static_cast<std::size_t>(std::count_if(calls_.begin(), calls_.end(), [&](auto& c) { return c.path == path; })) >= n;
    });
  }
  /// Marks `name` (a latch the handlers wait on, or an instant the handlers saw).
  void mark(const std::string& name) {
    std::lock_guard lock(mu_);
    marks_[name] = clock_type::now();
    cv_.notify_all();
  }
  std::optional<clock_type::time_point> wait_mark(const std::string& name, std::chrono::milliseconds timeout = 5s) const {
    std::unique_lock lock(mu_);
    if (!cv_.wait_for(lock, timeout, [&] { return marks_.count(name) > 0; })) return std::nullopt;
    return marks_.at(name);
  }

 private:
  void serve(tcp::socket& s) {
    s.set_option(tcp::no_delay(true));
    beast::flat_buffer buf;
    for (;;) {
      request req;
      error_code ec;
      http::read(s, buf, req, ec);
      if (ec) return;
      call c;
      c.target = std::string(req.target());
      c.path = c.target.substr(0, c.target.find('?'));
      c.body = req.body();
      c.at = clock_type::now();
      for (auto& f : req) {
        std::string k(f.name_string());
        for (auto& ch : k) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        c.headers[k] = std::string(f.value());
      }
      auto path = c.path;
      {
        std::lock_guard lock(mu_);
        calls_.push_back(std::move(c));
        cv_.notify_all();
      }
      auto it = handlers_.find(path);
      if (it == handlers_.end()) reply(s, 404, "text/plain", "no such path");
      else it->second(s, req);
      if (!s.is_open()) return;
    }
  }

  std::map<std::string, handler> handlers_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<call> calls_;
  std::map<std::string, clock_type::time_point> marks_;
  provider::test::local_server server_;  // last: its threads use everything above
};

std::string sse(const json::object& o) { return "data: " + json::serialize(o) + "\n\n"; }
std::string line(const json::object& o) { return json::serialize(o) + "\n"; }

// ---- the fixture: a backend with every behaviour the tests need, and streamgate configured for it ----

class Backend : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("SG_TEST_BACKEND_TOKEN", "tok-123", 1);
    fake_ = std::make_unique<fake_backend>(handlers());
    char tmpl[] = "/tmp/sg-backend-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    auto provider = [&](const std::string& name, const std::string& path, const std::string& extra = "") {
      return "[providers." + name + "]\ntype = \"http\"\nurl = \"" + fake_->url(path) + "\"\n" + extra;
    };
    auto route = [&](const std::string& name, const std::string& path, const std::string& extra = "") {
      return "[routes.\"" + name + "\"]\nurl = \"" + fake_->url(path) + "\"\n" + extra;
    };
    std::ofstream(dir_ / "sg.toml")
        << provider("sse", "/sse", "headers = { Authorization = \"Bearer ${SG_TEST_BACKEND_TOKEN}\" }\ntimeout_ms = 5000\n")
        << provider("ndjson", "/ndjson") << provider("gated", "/gated") << provider("cancel", "/cancel")
        << provider("hang", "/hang", "timeout_ms = 300\n") << provider("status500", "/500")
        << provider("status400", "/400") << provider("garbage", "/garbage") << provider("html", "/html")
        << provider("errorevent", "/error-event") << provider("cut", "/cut")
        << route("$connect", "/connect") << route("$disconnect", "/disconnect")
        << route("subscribe", "/subscribe") << route("slow", "/slow", "max_concurrency = 2\n")
        << route("wide", "/slow")
        << route("broken", "/broken", "breaker_failures = 2\nbreaker_reset_ms = 60000\n")
        << route("late", "/late", "timeout_ms = 200\n") << route("$default", "/default");
    srv_ = std::make_unique<server_process>(std::vector<std::string>{"--config", (dir_ / "sg.toml").string(), "--provider", "ndjson"});
  }
  void TearDown() override {
    srv_.reset();  // first: the backend's connections end with the process
    fake_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::map<std::string, fake_backend::handler> handlers() {
    auto* f = &fake_;
    std::map<std::string, fake_backend::handler> h;
    // The SSE reply goes out one byte per chunk.
    h["/sse"] = [](tcp::socket& s, const fake_backend::request&) {
      std::string body = ": hello\n\n" +
                         sse({{"type", "progress"}, {"stage", "generating"}, {"step", "Searching the index..."}, {"progress", 55}}) +
                         sse({{"type", "delta"}, {"content", "Bonjour, "}}) + sse({{"type", "delta"}, {"content", "le monde"}}) +
                         sse({{"type", "usage"}, {"inputTokens", 11}, {"outputTokens", 4}});
      chunked_head(s, "text/event-stream");
      for (char c : body) chunk(s, std::string_view(&c, 1));
      end_chunks(s);
    };
    h["/ndjson"] = [](tcp::socket& s, const fake_backend::request& req) {
      auto in = json::parse(req.body()).as_object();
      chunked_head(s, "application/x-ndjson");
      chunk(s, line({{"type", "delta"}, {"content", "echo: "}}));
      chunk(s, line({{"type", "delta"}, {"content", std::string(in.at("userInput").as_string())}}));
      chunk(s, line({{"type", "usage"}, {"inputTokens", 2}, {"outputTokens", 2}}));
      end_chunks(s);
    };
    // Each part waits for the test, so a client can drop and resume mid-answer.
    h["/gated"] = [f](tcp::socket& s, const fake_backend::request&) {
      chunked_head(s, "application/x-ndjson");
      chunk(s, line({{"type", "delta"}, {"content", "alpha "}}));
      if (!(*f)->wait_mark("gate-1")) return;
      chunk(s, line({{"type", "delta"}, {"content", "beta "}}));
      if (!(*f)->wait_mark("gate-2")) return;
      chunk(s, line({{"type", "delta"}, {"content", "gamma"}}));
      end_chunks(s);
    };
    // Streams one delta, then waits for streamgate to close the request; notes when it saw the close.
    h["/cancel"] = [f](tcp::socket& s, const fake_backend::request&) {
      chunked_head(s, "text/event-stream");
      chunk(s, sse({{"type", "delta"}, {"content", "thinking"}}));
      if (provider::test::wait_peer_close(s)) (*f)->mark("cancel-closed");
      s.close();
    };
    h["/hang"] = [](tcp::socket& s, const fake_backend::request&) {
      provider::test::wait_peer_close(s);
      s.close();
    };
    h["/500"] = [](tcp::socket& s, const fake_backend::request&) {
      reply(s, 500, "application/json", R"({"error":"database down"})");
    };
    h["/400"] = [](tcp::socket& s, const fake_backend::request&) { reply(s, 400, "text/plain", "bad"); };
    h["/garbage"] = [](tcp::socket& s, const fake_backend::request&) {
      chunked_head(s, "application/x-ndjson");
      chunk(s, line({{"type", "delta"}, {"content", "ok so far"}}));
      chunk(s, "<html>oops</html>\n");
      end_chunks(s);
    };
    h["/html"] = [](tcp::socket& s, const fake_backend::request&) { reply(s, 200, "text/html", "<html></html>"); };
    h["/error-event"] = [](tcp::socket& s, const fake_backend::request&) {
      chunked_head(s, "text/event-stream");
      chunk(s, sse({{"type", "delta"}, {"content", "partial"}}));
      chunk(s, sse({{"type", "error"}, {"code", "forbidden"}, {"message", "not your document"}, {"retryable", false}}));
      end_chunks(s);
    };
    h["/cut"] = [](tcp::socket& s, const fake_backend::request&) {
      chunked_head(s, "application/x-ndjson");
      chunk(s, line({{"type", "delta"}, {"content", "half"}}));
      s.close();  // no terminating chunk
    };
    h["/connect"] = [](tcp::socket& s, const fake_backend::request& req) {
      auto in = json::parse(req.body()).as_object();
      auto& headers = in.at("headers").as_object();
      auto* token = headers.if_contains("x-demo-token");
      if (!token) return reply(s, 401, "application/json", R"({"message":"who are you"})");
      if (token->as_string() != "letmein") return reply(s, 403, "application/json", R"({"message":"no"})");
      if (in.at("query").as_object().contains("flaky"))
        return reply(s, 200, "application/json", R"({"context":{"user":"alice","flaky":true}})");
      reply(s, 200, "application/json", R"({"context":{"user":"alice"}})");
    };
    // A flaky connection's first $disconnect fails: streamgate must retry it.
    auto failed_once = std::make_shared<std::pair<std::mutex, std::set<std::string>>>();
    h["/disconnect"] = [failed_once](tcp::socket& s, const fake_backend::request& req) {
      auto in = json::parse(req.body()).as_object();
      if (in.at("context").as_object().contains("flaky")) {
        std::lock_guard lock(failed_once->first);
        if (failed_once->second.insert(std::string(in.at("connectionId").as_string())).second)
          return reply(s, 503, "text/plain", "try again");
      }
      reply(s, 200, "text/plain", "");
    };
    h["/subscribe"] = [](tcp::socket& s, const fake_backend::request& req) {
      auto in = json::parse(req.body()).as_object();
      auto room = std::string(in.at("room").as_string());
      if (room == "quiet") return reply(s, 204, "text/plain", "");
      if (room == "bad") return reply(s, 400, "text/plain", "no such room");
      reply(s, 200, "application/json", json::serialize(json::object{{"type", "subscribed"}, {"room", room}}));
    };
    h["/default"] = [](tcp::socket& s, const fake_backend::request& req) {
      reply(s, 200, "application/json", json::serialize(json::object{{"type", "echo"}, {"got", req.body()}}));
    };
    // Answers only when the test releases it (bounded).
    h["/slow"] = [f](tcp::socket& s, const fake_backend::request&) {
      if (!(*f)->wait_mark("slow-release")) return;
      reply(s, 200, "application/json", R"({"type":"slow-done"})");
    };
    h["/broken"] = [](tcp::socket& s, const fake_backend::request&) { reply(s, 500, "text/plain", "down"); };
    h["/late"] = [f](tcp::socket& s, const fake_backend::request&) {
      if (provider::test::wait_peer_close(s)) (*f)->mark("late-closed");
      s.close();
    };
    return h;
  }

  std::map<std::string, std::string> allowed() const { return {{"X-Demo-Token", "letmein"}}; }
  std::unique_ptr<ws_client> connect(std::string target = "/ws") {
    return std::make_unique<ws_client>(srv_->port(), std::move(target), allowed());
  }
  double metric(const std::string& series) const { return metric_value(srv_->port(), series); }
  bool wait_metric(const std::string& series, double value) const { return test::wait_metric(srv_->port(), series, value); }

  fs::path dir_;
  std::unique_ptr<fake_backend> fake_;
  std::unique_ptr<server_process> srv_;
};

struct outcome {
  std::string stream_id;
  std::string text;
  std::vector<json::object> events;
  json::object terminal;
};

outcome stream_with(ws_client& ws, const std::string& provider, const std::string& input, const std::string& project = "backend") {
  auto req = stream_request(input, project, "req-" + provider);
  if (!provider.empty()) req["provider"] = provider;
  ws.send_json(req);
  outcome o;
  for (;;) {
    auto ev = ws.read(10s);
    o.events.push_back(ev);
    auto type = std::string(ev.at("type").as_string());
    if (type == "stream_start") o.stream_id = std::string(ev.at("streamId").as_string());
    if (type == "stream_chunk") o.text += std::string(ev.at("content").as_string());
    if (type == "stream_complete" || type == "error" || type == "stream_cancelled") {
      o.terminal = ev;
      return o;
    }
  }
}

// ---- the streaming backend provider ----

TEST_F(Backend, SseReplySplitAtEveryByteStreamsThroughTheProtocol) {
  auto ws = connect();
  auto o = stream_with(*ws, "sse", "Say hello");
  ASSERT_EQ(o.terminal.at("type"), "stream_complete") << json::serialize(o.terminal);
  EXPECT_EQ(o.text, "Bonjour, le monde");
  EXPECT_EQ(o.terminal.at("fullContent"), "Bonjour, le monde");
  EXPECT_EQ(o.terminal.at("usage").at("inputTokens").to_number<int>(), 11);
  EXPECT_EQ(o.terminal.at("usage").at("outputTokens").to_number<int>(), 4);
  // The backend's own stage is relayed among streamgate's, and every event's seq follows the last.
  bool relayed = false;
  std::uint64_t seq = 0;
  for (auto& e : o.events) {
    if (e.at("type") == "progress" && e.at("step") == "Searching the index...") {
      relayed = true;
      EXPECT_EQ(e.at("stage"), "generating");
      EXPECT_EQ(e.at("progress").to_number<int>(), 55);
    }
    // A lagging client's chunks may be merged: then firstSeq is the first it holds.
    auto first = e.contains("firstSeq") ? e.at("firstSeq").to_number<std::uint64_t>() : e.at("seq").to_number<std::uint64_t>();
    EXPECT_EQ(first, seq + 1) << json::serialize(e);
    seq = e.at("seq").to_number<std::uint64_t>();
  }
  EXPECT_TRUE(relayed);

  // What the backend was sent.
  auto calls = fake_->calls("/sse");
  ASSERT_EQ(calls.size(), 1u);
  auto& c = calls[0];
  EXPECT_EQ(c.headers.at("authorization"), "Bearer tok-123") << "${ENV} substituted at start-up";
  EXPECT_EQ(c.headers.at("content-type"), "application/json");
  auto body = c.json();
  EXPECT_EQ(body.at("streamId").as_string(), o.stream_id);
  EXPECT_EQ(body.at("requestId"), "req-sse");
  EXPECT_EQ(body.at("projectId"), "backend");
  EXPECT_EQ(body.at("userInput"), "Say hello");
  EXPECT_TRUE(body.at("chatHistory").is_array());
  EXPECT_TRUE(body.at("cards").is_array());
  EXPECT_TRUE(body.at("sub").as_string().starts_with("anon:"));
  EXPECT_EQ(body.at("connectionId").as_string(), ws->connection_id());
  EXPECT_EQ(body.at("context").at("user"), "alice") << "the $connect context travels with the stream";

  EXPECT_GE(metric("streamgate_upstream_requests_total{provider=\"sse\"}"), 1);
}

TEST_F(Backend, NdjsonReplyFromTheDefaultProviderOverSseWithHistory) {
  const std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "backend-test-owner-0123456789"}};
  sse_client c(srv_->port(), http::verb::post, "/v1/streams",
               json::serialize(json::object{{"projectId", "notes"}, {"userInput", "ping me"}}), me);
  ASSERT_EQ(c.status(), 200u);
  std::string text;
  std::string last_type;
  for (;;) {
    auto ev = c.next(10s);
    ASSERT_TRUE(ev) << "the response ended before its terminal event";
    last_type = ev->type;
    if (ev->type == "stream_chunk") text += std::string(ev->json().at("content").as_string());
    if (ev->type == "stream_complete" || ev->type == "error") break;
  }
  EXPECT_EQ(last_type, "stream_complete");
  EXPECT_EQ(text, "echo: ping me") << "--provider ndjson makes the backend the default";
  auto body = fake_->calls("/ndjson").at(0).json();
  EXPECT_EQ(body.at("connectionId"), "") << "no WebSocket connection asked for it";
  EXPECT_FALSE(body.contains("context"));
  // The question and the answer are in the project's history, as with any provider.
  auto history = http_request(srv_->port(), http::verb::get, "/v1/projects/notes/messages", {}, me);
  ASSERT_EQ(history.status, 200u) << history.body;
  EXPECT_NE(history.body.find("\"content\":\"ping me\""), std::string::npos) << history.body;
  EXPECT_NE(history.body.find("\"content\":\"echo: ping me\""), std::string::npos) << history.body;
}

TEST_F(Backend, ResumesMidAnswerAfterADrop) {
  auto a = connect();
  a->send_json([] {
    auto r = stream_request("tell me", "backend");
    r["provider"] = "gated";
    return r;
  }());
  std::string id, seen;
  std::uint64_t last_seq = 0;
  while (seen.empty()) {
    auto ev = a->read(5s);
    if (ev.at("type") == "stream_start") id = std::string(ev.at("streamId").as_string());
    if (ev.at("type") == "stream_chunk") seen = std::string(ev.at("content").as_string());
    last_seq = ev.at("seq").to_number<std::uint64_t>();
  }
  EXPECT_EQ(seen, "alpha ");
  a->drop();
  fake_->mark("gate-1");

  auto b = connect();
  b->send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", last_seq}});
  std::string text;
  bool released = false;
  json::object terminal;
  for (;;) {
    auto ev = b->read(5s);
    auto first = ev.contains("firstSeq") ? ev.at("firstSeq").to_number<std::uint64_t>() : ev.at("seq").to_number<std::uint64_t>();
    EXPECT_EQ(first, last_seq + 1) << "gapless and exactly once: " << json::serialize(ev);
    last_seq = ev.at("seq").to_number<std::uint64_t>();
    if (ev.at("type") == "stream_chunk") text += std::string(ev.at("content").as_string());
    if (!released && text.find("beta") != std::string::npos) {
      released = true;  // the rest is generated only now: it reaches the resumed client live
      fake_->mark("gate-2");
    }
    if (ev.at("type") == "stream_complete" || ev.at("type") == "error") {
      terminal = ev;
      break;
    }
  }
  ASSERT_EQ(terminal.at("type"), "stream_complete") << json::serialize(terminal);
  EXPECT_EQ(seen + text, "alpha beta gamma");
  EXPECT_EQ(terminal.at("fullContent"), "alpha beta gamma");
}

TEST_F(Backend, CancelClosesTheBackendRequestWithin50ms) {
  auto ws = connect();
  auto req = stream_request("cancel me", "backend");
  req["provider"] = "cancel";
  ws->send_json(req);
  std::string id;
  for (;;) {
    auto ev = ws->read(5s);
    if (ev.at("type") == "stream_start") id = std::string(ev.at("streamId").as_string());
    if (ev.at("type") == "stream_chunk") break;
  }
  auto sent = clock_type::now();
  ws->send_json({{"action", "cancel"}, {"streamId", id}});
  ws->read_until("stream_cancelled", 5s, id);
  auto closed = fake_->wait_mark("cancel-closed", 3s);
  ASSERT_TRUE(closed) << "the backend never saw its request closed";
  auto ms = std::chrono::duration<double, std::milli>(*closed - sent).count();
  std::cout << "[ measured ] the backend saw its request closed " << ms << " ms after the cancel was sent\n";
  EXPECT_LT(ms, 50.0);
}

TEST_F(Backend, FailuresMapToUpstreamCodes) {
  auto ws = connect();
  struct expectation {
    const char* provider;
    const char* code;
    const char* text;  // delivered before the failure
  };
  for (auto e : {expectation{"hang", "upstream_timeout", ""}, expectation{"status500", "upstream_unavailable", ""},
                 expectation{"status400", "upstream_error", ""}, expectation{"garbage", "upstream_error", "ok so far"},
                 expectation{"html", "upstream_error", ""}, expectation{"cut", "upstream_unavailable", "half"},
                 expectation{"errorevent", "forbidden", "partial"}}) {
    auto o = stream_with(*ws, e.provider, "fail please");
    ASSERT_EQ(o.terminal.at("type"), "error") << e.provider << ": " << json::serialize(o.terminal);
    EXPECT_EQ(o.terminal.at("code"), e.code) << e.provider;
    EXPECT_EQ(o.terminal.at("streamId").as_string(), o.stream_id) << e.provider;
    EXPECT_EQ(o.text, e.text) << e.provider;
    if (std::string(e.provider) == "errorevent") {
      EXPECT_EQ(o.terminal.at("message"), "not your document") << "the backend's own words reach its client";
      EXPECT_FALSE(o.terminal.at("retryable").as_bool());
    } else {
      EXPECT_EQ(o.terminal.at("message").as_string().find("database"), std::string::npos) << "upstream text stays in the log";
    }
  }
  EXPECT_EQ(metric("streamgate_upstream_errors_total{provider=\"hang\",code=\"upstream_timeout\"}"), 1);
  EXPECT_EQ(metric("streamgate_upstream_errors_total{provider=\"status500\",code=\"upstream_unavailable\"}"), 1);
  // The connection and the other providers are unaffected.
  EXPECT_EQ(stream_with(*ws, "ndjson", "still there").terminal.at("type"), "stream_complete");
}

// ---- route integrations ----

TEST_F(Backend, ConnectAllowsAndRefuses) {
  auto ws = connect("/ws?room=blue");
  auto calls = fake_->calls("/connect");
  ASSERT_EQ(calls.size(), 1u);
  auto body = calls[0].json();
  EXPECT_EQ(body.at("connectionId").as_string(), ws->connection_id()) << "the id $connect saw is the connection's id";
  EXPECT_EQ(body.at("sourceIp"), "127.0.0.1");
  EXPECT_EQ(body.at("userAgent"), "streamgate-tests");
  EXPECT_TRUE(body.at("sub").as_string().starts_with("anon:"));
  EXPECT_EQ(body.at("headers").at("x-demo-token"), "letmein");
  EXPECT_EQ(body.at("query").at("room"), "blue");
  EXPECT_EQ(calls[0].headers.at("x-streamgate-connection-id"), ws->connection_id());
  ws->send_json({{"action", "ping"}});
  EXPECT_EQ(ws->read().at("type"), "pong");

  auto wrong = raw_upgrade(srv_->port(), "/ws", {{"X-Demo-Token", "wrong"}});
  EXPECT_EQ(wrong.status, 403u);
  EXPECT_EQ(json::parse(wrong.body).at("code"), "forbidden");
  EXPECT_TRUE(wrong.closed_after) << "a refused upgrade leaves no socket open";
  auto missing = raw_upgrade(srv_->port(), "/ws", {});
  EXPECT_EQ(missing.status, 401u);
  EXPECT_EQ(json::parse(missing.body).at("code"), "unauthorized");
  EXPECT_TRUE(missing.closed_after);
  EXPECT_EQ(metric("streamgate_integration_calls_total{route=\"$connect\",result=\"ok\"}"), 1);
  EXPECT_EQ(metric("streamgate_integration_calls_total{route=\"$connect\",result=\"http_4xx\"}"), 2);
  // Only the admitted connection is known to the management API.
  auto list = http_request(srv_->port(), http::verb::get, "/v1/admin/connections", {}, srv_->admin_headers());
  EXPECT_NE(list.body.find(ws->connection_id()), std::string::npos);
  EXPECT_EQ(list.body.find(std::string(fake_->calls("/connect").at(1).json().at("connectionId").as_string())),
            std::string::npos);
}

TEST_F(Backend, DisconnectIsCalledExactlyOncePerConnection) {
  std::map<std::string, int> want;  // connection id → the close code $disconnect must report
  {
    auto normal = connect();
    want[normal->connection_id()] = 1000;
    normal->close();
  }
  {
    auto dropped = connect();
    want[dropped->connection_id()] = 1006;
    dropped->drop();
  }
  {
    auto oversize = connect();
    want[oversize->connection_id()] = 1009;
    // Past --max-message-bytes: the server closes with 1009, maybe before the client has written it all,
    // so the client's write or read may end in a reset; the code that counts is the one reported below.
    try {
      oversize->send(std::string(200 * 1024, 'x'));
      oversize->read_text();
    } catch (const std::runtime_error&) {
    }
  }
  {
    auto removed = connect();
    want[removed->connection_id()] = 1000;
    auto r = http_request(srv_->port(), http::verb::delete_, "/@connections/" + removed->connection_id(), {},
                          srv_->admin_headers());
    EXPECT_EQ(r.status, 204u);
    EXPECT_FALSE(removed->read_text());
  }
  ASSERT_TRUE(fake_->wait_calls("/disconnect", want.size())) << "every connection's end was reported";
  // One more connection as a barrier: once its $disconnect arrived, a duplicate of the earlier ones would have too.
  {
    auto barrier = connect();
    want[barrier->connection_id()] = 1000;
    barrier->close();
  }
  ASSERT_TRUE(fake_->wait_calls("/disconnect", want.size()));
  auto calls = fake_->calls("/disconnect");
  EXPECT_EQ(calls.size(), want.size());
  std::map<std::string, int> seen;
  for (auto& c : calls) {
    auto b = c.json();
    auto id = std::string(b.at("connectionId").as_string());
    ++seen[id];
    ASSERT_TRUE(want.count(id)) << id;
    EXPECT_EQ(b.at("closeCode").to_number<int>(), want[id]) << id;
    EXPECT_EQ(b.at("context").at("user"), "alice");
    EXPECT_EQ(c.headers.at("x-streamgate-connection-id"), id);
  }
  for (auto& [id, n] : seen) EXPECT_EQ(n, 1) << id;
}

TEST_F(Backend, FailedDisconnectIsRetried) {
  std::string id;
  {
    auto ws = connect("/ws?flaky=1");
    id = ws->connection_id();
    ws->close();
  }
  ASSERT_TRUE(fake_->wait_calls("/disconnect", 2)) << "the 503 was retried";
  auto calls = fake_->calls("/disconnect");
  ASSERT_EQ(calls.size(), 2u);
  for (auto& c : calls) EXPECT_EQ(c.json().at("connectionId").as_string(), id);
  EXPECT_TRUE(wait_metric("streamgate_integration_calls_total{route=\"$disconnect\",result=\"ok\"}", 1));
  EXPECT_EQ(metric("streamgate_integration_calls_total{route=\"$disconnect\",result=\"http_5xx\"}"), 1);
  EXPECT_EQ(metric("streamgate_integration_retries_total{route=\"$disconnect\"}"), 1);
}

TEST_F(Backend, CustomRouteAnswersAndTheBackendPushesThroughConnections) {
  auto ws = connect();
  std::string frame = R"({"action":"subscribe","room":"blue","requestId":"q1"})";
  ws->send(frame);
  auto answer = ws->read();
  EXPECT_EQ(answer.at("type"), "subscribed");
  EXPECT_EQ(answer.at("room"), "blue");
  auto call = fake_->calls("/subscribe").at(0);
  EXPECT_EQ(call.body, frame) << "the client's message is posted as it is";
  EXPECT_EQ(call.headers.at("x-streamgate-connection-id"), ws->connection_id());
  EXPECT_TRUE(call.headers.at("x-streamgate-sub").starts_with("anon:"));
  EXPECT_EQ(json::parse(call.headers.at("x-streamgate-context")).at("user"), "alice");

  // The backend pushes later, on its own, through @connections.
  auto push = http_request(srv_->port(), http::verb::post, "/@connections/" + call.headers.at("x-streamgate-connection-id"),
                           R"({"type":"news","text":"fresh"})", srv_->admin_headers());
  EXPECT_EQ(push.status, 200u);
  EXPECT_EQ(ws->read().at("text"), "fresh");

  // An empty 2xx sends nothing: once the call is done, the next frame is the pong.
  ws->send(R"({"action":"subscribe","room":"quiet"})");
  ASSERT_TRUE(wait_metric("streamgate_integration_calls_total{route=\"subscribe\",result=\"ok\"}", 2));
  ws->send_json({{"action", "ping"}});
  EXPECT_EQ(ws->read().at("type"), "pong");
  // A 4xx answer is an error for that request only.
  ws->send(R"({"action":"subscribe","room":"bad","requestId":"q3"})");
  auto err = ws->read();
  EXPECT_EQ(err.at("type"), "error");
  EXPECT_EQ(err.at("code"), "upstream_error");
  EXPECT_EQ(err.at("requestId"), "q3");

  // Anything that is not a route or a built-in goes to $default, JSON or not.
  ws->send(R"({"action":"whatever","n":1})");
  EXPECT_EQ(ws->read().at("got"), R"({"action":"whatever","n":1})");
  ws->send("plain words");
  EXPECT_EQ(ws->read().at("got"), "plain words");
  EXPECT_EQ(fake_->calls("/default").at(1).headers.at("content-type"), "text/plain; charset=utf-8");
  // Built-in actions stay built in.
  ws->send_json({{"action", "resume"}, {"streamId", "st_nothing"}, {"lastSeq", 0}});
  EXPECT_EQ(ws->read().at("code"), "not_found");
}

TEST_F(Backend, SlowRouteDoesNotDelayPingsOnOtherConnections) {
  auto a = connect();
  auto b = connect();
  auto c = connect();
  a->send_json({{"action", "slow"}});
  ASSERT_TRUE(fake_->wait_calls("/slow", 1));
  // A's own pings, and B's, are answered while A's route call is held by the backend.
  for (auto* ws : {b.get(), a.get()}) {
    auto t0 = clock_type::now();
    ws->send_json({{"action", "ping"}});
    EXPECT_EQ(ws->read(2s).at("type"), "pong");
    auto ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
    std::cout << "[ measured ] ping answered in " << ms << " ms while a route call was pending\n";
    EXPECT_LT(ms, 250.0);
  }
  // The route allows two calls at once: a third is refused at once, not queued.
  c->send_json({{"action", "slow"}});
  ASSERT_TRUE(fake_->wait_calls("/slow", 2));
  b->send_json({{"action", "slow"}, {"requestId", "third"}});
  auto busy = b->read(2s);
  EXPECT_EQ(busy.at("code"), "upstream_rate_limited");
  EXPECT_EQ(busy.at("requestId"), "third");
  EXPECT_EQ(fake_->calls("/slow").size(), 2u);
  EXPECT_FALSE(fake_->wait_mark("slow-release", 0ms)) << "all of this happened while the backend held the calls";
  fake_->mark("slow-release");
  EXPECT_EQ(a->read().at("type"), "slow-done");
  EXPECT_EQ(c->read().at("type"), "slow-done");
  EXPECT_EQ(metric("streamgate_integration_calls_total{route=\"slow\",result=\"busy\"}"), 1);
}

TEST_F(Backend, OneConnectionCannotTakeARoutesWholeCapacity) {
  auto greedy = connect();
  auto other = connect();
  for (int i = 0; i < 8; ++i) greedy->send_json({{"action", "wide"}});
  ASSERT_TRUE(fake_->wait_calls("/slow", 8));
  greedy->send_json({{"action", "wide"}, {"requestId", "ninth"}});
  auto refused = greedy->read(2s);
  EXPECT_EQ(refused.at("code"), "rate_limited");
  EXPECT_EQ(refused.at("requestId"), "ninth");
  // The route itself (64 at once) still serves another connection.
  other->send_json({{"action", "wide"}});
  ASSERT_TRUE(fake_->wait_calls("/slow", 9));
  fake_->mark("slow-release");
  for (int i = 0; i < 8; ++i) EXPECT_EQ(greedy->read().at("type"), "slow-done");
  EXPECT_EQ(other->read().at("type"), "slow-done");
}

TEST_F(Backend, FailingRoutesTimeOutAndOpenTheirCircuit) {
  auto ws = connect();
  for (int i = 0; i < 2; ++i) {
    ws->send_json({{"action", "broken"}});
    auto e = ws->read();
    EXPECT_EQ(e.at("code"), "upstream_unavailable");
    EXPECT_NE(e.at("message").as_string().find("HTTP 500"), std::string::npos);
  }
  ws->send_json({{"action", "broken"}});
  auto open = ws->read();
  EXPECT_EQ(open.at("code"), "upstream_unavailable");
  EXPECT_NE(open.at("message").as_string().find("circuit_open"), std::string::npos) << json::serialize(open);
  EXPECT_EQ(fake_->calls("/broken").size(), 2u) << "an open circuit calls nothing";
  EXPECT_EQ(metric("streamgate_integration_calls_total{route=\"broken\",result=\"http_5xx\"}"), 2);
  EXPECT_EQ(metric("streamgate_integration_calls_total{route=\"broken\",result=\"circuit_open\"}"), 1);
  EXPECT_EQ(metric("streamgate_integration_circuit_open{route=\"broken\"}"), 1);

  ws->send_json({{"action", "late"}, {"requestId", "l1"}});
  auto late = ws->read(3s);
  EXPECT_EQ(late.at("code"), "upstream_timeout");
  EXPECT_EQ(late.at("requestId"), "l1");
  EXPECT_TRUE(fake_->wait_mark("late-closed", 3s)) << "a timed-out call is closed, not left open";
  EXPECT_EQ(metric("streamgate_integration_calls_total{route=\"late\",result=\"timeout\"}"), 1);
}

}  // namespace
}  // namespace sg::test
