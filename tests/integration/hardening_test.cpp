// Nothing hangs, nothing grows without bound: resume past the end, socket caps and deadlines,
// per-owner limits, a store that fails, and the spend caps of every transport.
#include "integration/harness.hpp"
#include "core/asio.hpp"

#include <gtest/gtest.h>

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace sg::test {
namespace {

namespace json = boost::json;

std::string body_for(const std::string& input, const std::string& project = "test") {
  return json::serialize(json::object{{"projectId", project}, {"userInput", input}});
}

// A raw TCP client for what the HTTP helpers cannot do: hold a socket idle, send half a request.
struct raw_socket {
  net::io_context ioc;
  tcp::socket sock{ioc};
  explicit raw_socket(std::uint16_t port, int timeout_s = 5) {
    sock.connect({net::ip::make_address("127.0.0.1"), port});
    timeval tv{timeout_s, 0};
    ::setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(const std::string& s) { net::write(sock, net::buffer(s)); }
  // Everything until the server closes (or the receive timeout): the bytes, and whether it closed.
  std::pair<std::string, bool> read_to_close() {
    std::string got;
    for (;;) {
      char buf[4096];
      error_code ec;
      auto n = sock.read_some(net::buffer(buf), ec);
      got.append(buf, n);
      if (ec == net::error::eof || ec == net::error::connection_reset) return {got, true};
      if (ec) return {got, false};
    }
  }
};

std::int64_t last_seq_of_finished_stream(server_process& srv, std::string* id_out) {
  auto r = http_request(srv.port(), http::verb::post, "/v1/streams", body_for("finish me"),
                        {{"Accept", "application/json"}});
  EXPECT_EQ(r.status, 202u) << r.body;
  auto id = std::string(r.json().at("streamId").as_string());
  sse_client c(srv.port(), http::verb::get, "/v1/streams/" + id + "/events");
  std::int64_t last = 0;
  while (auto ev = c.next(10s)) last = std::stoll(ev->id);
  *id_out = id;
  return last;
}

// ---- item 9: SSE (and WebSocket resume) past the end ----

TEST(Hardening, SseAtOrPastTheEndOfAFinishedStreamAnswers204) {
  server_process srv;
  std::string id;
  auto last = last_seq_of_finished_stream(srv, &id);
  ASSERT_GT(last, 3);
  // What EventSource sends when it reconnects after the terminal event: it must not wait forever.
  for (auto after : {last, last + 7}) {
    auto r = http_request(srv.port(), http::verb::get, "/v1/streams/" + id + "/events",
                          {}, {{"Last-Event-ID", std::to_string(after)}}, 5s);
    EXPECT_EQ(r.status, 204u) << "Last-Event-ID " << after << ": " << r.body;
    auto q = http_request(srv.port(), http::verb::get, "/v1/streams/" + id + "/events?lastSeq=" + std::to_string(after),
                          {}, {}, 5s);
    EXPECT_EQ(q.status, 204u) << "lastSeq " << after << ": " << q.body;
  }
  // One before the end still replays the terminal event, then ends.
  sse_client c(srv.port(), http::verb::get, "/v1/streams/" + id + "/events", {},
               {{"Last-Event-ID", std::to_string(last - 1)}});
  auto ev = c.next(5s);
  ASSERT_TRUE(ev);
  EXPECT_EQ(ev->type, "stream_complete");
  EXPECT_FALSE(c.next(5s)) << "the response must end after the terminal event";
}

TEST(Hardening, SseBeyondTheLastSeqOfARunningStreamIs400) {
  server_process srv({"--demo-tokens-per-second", "5"});
  auto r = http_request(srv.port(), http::verb::post, "/v1/streams", body_for("slow"), {{"Accept", "application/json"}});
  ASSERT_EQ(r.status, 202u);
  auto id = std::string(r.json().at("streamId").as_string());
  auto q = http_request(srv.port(), http::verb::get, "/v1/streams/" + id + "/events?lastSeq=100000", {}, {}, 5s);
  EXPECT_EQ(q.status, 400u) << q.body;
  EXPECT_EQ(q.json().at("field"), "lastSeq") << q.body;
  http_request(srv.port(), http::verb::delete_, "/v1/streams/" + id);
}

TEST(Hardening, WsResumePastTheEndRepeatsHowTheStreamEnded) {
  server_process srv;
  ws_client ws(srv.port());
  ws.send_json(stream_request("resume past the end"));
  auto events = ws.read_until("stream_complete", 10s);
  auto done = events.back();
  auto id = std::string(done.at("streamId").as_string());
  auto last = done.at("seq").to_number<std::int64_t>();
  for (auto after : {last, last + 5}) {
    ws.send_json(json::object{{"action", "resume"}, {"streamId", id}, {"lastSeq", after}});
    auto again = ws.read(5s);
    EXPECT_EQ(again.at("type"), "stream_complete") << json::serialize(again);
    EXPECT_EQ(again.at("seq").to_number<std::int64_t>(), last);
  }
  // A running stream: a lastSeq past its last event is the client's mistake, said plainly.
  server_process slow({"--demo-tokens-per-second", "5"});
  ws_client ws2(slow.port());
  ws2.send_json(stream_request("running"));
  auto start = ws2.read_until("stream_start", 5s).back();
  auto sid = std::string(start.at("streamId").as_string());
  ws_client other(slow.port());
  other.send_json(json::object{{"action", "resume"}, {"streamId", sid}, {"lastSeq", 100000}});
  auto err = other.read(5s);
  EXPECT_EQ(err.at("type"), "error") << json::serialize(err);
  EXPECT_EQ(err.at("code"), "bad_request");
}

// ---- item 10: every socket counts, and requests have deadlines ----

TEST(Hardening, HeaderThatNeverEndsIsCutAtTheDeadline) {
  server_process srv({"--header-timeout-ms", "300"});
  raw_socket s(srv.port());
  s.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\nX-Slow: ");  // and nothing more
  auto t0 = std::chrono::steady_clock::now();
  auto [bytes, closed] = s.read_to_close();
  auto waited = std::chrono::steady_clock::now() - t0;
  EXPECT_TRUE(closed) << "the server held a half-sent header open";
  EXPECT_LT(waited, 3s);
  // The client sees the close a moment before the server's handler counts it: wait (bounded) for it.
  std::string m;
  for (auto deadline = std::chrono::steady_clock::now() + 3s; std::chrono::steady_clock::now() < deadline;) {
    m = http_request(srv.port(), http::verb::get, "/metrics").body;
    if (m.find("streamgate_request_timeouts_total 0") == std::string::npos) break;
  }
  EXPECT_EQ(m.find("streamgate_request_timeouts_total 0"), std::string::npos) << "the timeout was not counted";
}

TEST(Hardening, BodyThatNeverArrivesIsCutAtItsDeadline) {
  server_process srv({"--body-timeout-ms", "300"});
  raw_socket s(srv.port());
  s.send("POST /v1/projects HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na");
  auto t0 = std::chrono::steady_clock::now();
  auto [bytes, closed] = s.read_to_close();
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST(Hardening, MaxConnectionsCoversEverySocketAndRecovers) {
  server_process srv({"--max-connections", "4"});
  std::vector<std::unique_ptr<raw_socket>> idle;
  for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<raw_socket>(srv.port()));
  // These four hold every slot without sending a byte; the fifth is closed at once.
  raw_socket fifth(srv.port());
  auto [bytes, closed] = fifth.read_to_close();
  EXPECT_TRUE(closed) << "a socket past --max-connections was kept";
  // The held sockets are still served.
  idle[0]->send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\nConnection: close\r\n\r\n");
  auto [ok, ok_closed] = idle[0]->read_to_close();
  EXPECT_NE(ok.find("200 OK"), std::string::npos) << ok;
  idle.clear();
  // Slots come back when sockets close (bounded wait for the server to see the closes).
  std::optional<http_result> r;
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      r = http_request(srv.port(), http::verb::get, "/healthz", {}, {}, 2s);
      if (r->status == 200) break;
    } catch (const std::exception&) {
    }
  }
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200u);
}

TEST(Hardening, PerIpCapCoversPlainHttpSockets) {
  server_process srv({"--max-connections-per-ip", "3"});
  std::vector<std::unique_ptr<raw_socket>> idle;
  for (int i = 0; i < 3; ++i) idle.push_back(std::make_unique<raw_socket>(srv.port()));
  raw_socket fourth(srv.port());
  fourth.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(srv.port()) + "\r\n\r\n");
  auto [bytes, closed] = fourth.read_to_close();
  EXPECT_NE(bytes.find("429"), std::string::npos) << bytes;
  EXPECT_NE(bytes.find("rate_limited"), std::string::npos) << bytes;
}

TEST(Hardening, ConnectionRateIsCheckedAtAcceptBeforeAnyRequest) {
  server_process srv({"--rate-connections-per-second", "1"});  // burst 2
  raw_socket a(srv.port()), b(srv.port());
  raw_socket c(srv.port());
  // c sends nothing: the refusal comes from accept, not from parsing a request.
  auto [bytes, closed] = c.read_to_close();
  EXPECT_NE(bytes.find("HTTP/1.1 429"), std::string::npos) << bytes;
  EXPECT_NE(bytes.find("Retry-After"), std::string::npos) << bytes;
  EXPECT_TRUE(closed);
}

// ---- item 11: spend and storage ----

TEST(Hardening, ConcurrentStreamCapCoversEveryTransport) {
  server_process srv({"--max-streams-per-user", "1", "--demo-tokens-per-second", "4"});
  ws_client ws(srv.port());
  ws.send_json(stream_request("hold the only slot"));
  auto start = ws.read_until("stream_start", 5s).back();
  auto id = std::string(start.at("streamId").as_string());

  auto json202 = http_request(srv.port(), http::verb::post, "/v1/streams", body_for("second"),
                              {{"Accept", "application/json"}});
  EXPECT_EQ(json202.status, 429u) << json202.body;
  auto sse = http_request(srv.port(), http::verb::post, "/v1/streams", body_for("second"),
                          {{"Accept", "text/event-stream"}});
  EXPECT_EQ(sse.status, 429u) << sse.body;
  for (bool stream : {false, true}) {
    json::object chat{{"model", "demo"},
                      {"stream", stream},
                      {"messages", json::array{json::object{{"role", "user"}, {"content", "x"}}}}};
    auto r = http_request(srv.port(), http::verb::post, "/v1/chat/completions", json::serialize(chat));
    EXPECT_EQ(r.status, 429u) << "stream " << stream << ": " << r.body;
  }
  ws_client ws2(srv.port());
  ws2.send_json(stream_request("second over websocket"));
  auto err = ws2.read(5s);
  EXPECT_EQ(err.at("code"), "rate_limited") << json::serialize(err);

  // Cancelling frees the slot for any transport.
  ws.send_json(json::object{{"action", "cancel"}, {"streamId", id}});
  ws.read_until("stream_cancelled", 5s);
  auto after = http_request(srv.port(), http::verb::post, "/v1/streams", body_for("now"), {{"Accept", "application/json"}});
  EXPECT_EQ(after.status, 202u) << after.body;
}

class ProjectLimits : public per_store {};

TEST_P(ProjectLimits, ProjectAndCardLimitsAndPagination) {
  server_process srv(with_store({"--max-projects-per-owner", "3", "--max-cards-per-project", "2", "--max-card-bytes",
                                 "100", "--max-prompt-bytes", "150"}));
  // One owner throughout (limits are per owner): an anonymous program with its key.
  const std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "limits-test-owner-0123456789"}};
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto r = http_request(srv.port(), http::verb::post, "/v1/projects",
                          json::serialize(json::object{{"name", "p" + std::to_string(i)}}), me);
    ASSERT_EQ(r.status, 201u) << r.body;
    ids.push_back(std::string(r.json().at("id").as_string()));
  }
  auto fourth = http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"one too many"})", me);
  EXPECT_EQ(fourth.status, 400u) << fourth.body;
  EXPECT_EQ(fourth.json().at("field"), "limit") << fourth.body;

  auto page1 = http_request(srv.port(), http::verb::get, "/v1/projects?limit=2", {}, me).json().as_object();
  EXPECT_EQ(page1.at("items").as_array().size(), 2u);
  EXPECT_EQ(page1.at("nextOffset"), 2);
  auto page2 = http_request(srv.port(), http::verb::get, "/v1/projects?limit=2&offset=2", {}, me).json().as_object();
  ASSERT_EQ(page2.at("items").as_array().size(), 1u);
  EXPECT_EQ(std::string(page2.at("items").at(0).at("id").as_string()), ids[2]);
  EXPECT_TRUE(page2.at("nextOffset").is_null());
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects?limit=1000", {}, me).status, 400u);

  auto cards = "/v1/projects/" + ids[0] + "/cards";
  auto card = [&](std::size_t bytes) {
    return http_request(srv.port(), http::verb::post, cards,
                        json::serialize(json::object{{"kind", "instruction"}, {"content", std::string(bytes, 'x')}}), me);
  };
  auto big = card(101);
  EXPECT_EQ(big.status, 400u) << big.body;
  EXPECT_EQ(big.json().at("field"), "content");
  EXPECT_EQ(card(100).status, 201u);
  auto over_prompt = card(60);  // 100 + 60 > 150: the system prompt would grow past its cap
  EXPECT_EQ(over_prompt.status, 400u) << over_prompt.body;
  EXPECT_NE(over_prompt.body.find("150"), std::string::npos) << over_prompt.body;
  EXPECT_EQ(card(50).status, 201u);
  auto third = card(1);
  EXPECT_EQ(third.status, 400u) << third.body;
  EXPECT_EQ(third.json().at("field"), "limit");
  auto list = http_request(srv.port(), http::verb::get, cards + "?limit=1", {}, me).json().as_object();
  EXPECT_EQ(list.at("items").as_array().size(), 1u);
  EXPECT_EQ(list.at("nextOffset"), 1);
}

SG_FOR_EACH_STORE(ProjectLimits);

// ---- item 3: a store that fails answers, ends streams and releases what they held ----

TEST(Hardening, FullStoreAnswers503EndsStreamsAndDrainsAtOnce) {
  server_process srv({"--store-max-bytes", "131072", "--max-streams-per-user", "1"});
  std::string description(1900, 'd');
  http_result last;
  int created = 0;
  for (int i = 0; i < 400; ++i) {
    last = http_request(srv.port(), http::verb::post, "/v1/projects",
                        json::serialize(json::object{{"name", "fill " + std::to_string(i)}, {"description", description}}),
                        {}, 5s);
    if (last.status != 201) break;
    ++created;
  }
  ASSERT_EQ(last.status, 503u) << "the store never filled: " << last.body;
  EXPECT_GT(created, 5);
  EXPECT_EQ(last.json().at("code"), "unavailable") << last.body;
  EXPECT_EQ(last.json().at("retryable"), true) << last.body;
  // Reads still work.
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects?limit=1", {}, {}, 5s).status, 200u);

  // A stream whose question cannot be recorded ends, retryable; its slot is released each time.
  ws_client ws(srv.port());
  for (int i = 0; i < 3; ++i) {
    // 20 KB needs fresh pages, which a full database does not have.
    ws.send_json(stream_request("no room for this question " + std::to_string(i) + std::string(20000, 'q')));
    auto events = ws.read_until("error", 5s);
    auto err = events.back();
    EXPECT_EQ(err.at("code"), "internal") << json::serialize(err);
    EXPECT_EQ(err.at("retryable"), true);
    EXPECT_TRUE(err.contains("streamId")) << "the error must end the stream it started";
  }
  auto metrics = http_request(srv.port(), http::verb::get, "/metrics").body;
  EXPECT_EQ(metrics.find("streamgate_store_errors_total 0"), std::string::npos);
  EXPECT_NE(metrics.find("streamgate_streams_running 0"), std::string::npos) << "a stream was left running";

  // Nothing holds the drain: it ends well before its 30 s timeout.
  srv.signal(SIGTERM);
  EXPECT_TRUE(srv.wait(8s)) << "drain waited on a stream the store failure left behind";
}

}  // namespace
}  // namespace sg::test

namespace sg::test {
namespace {

// Finished streams kept for resume share one byte budget; past it the oldest go first, and resuming
// one of them is "not found", as after its retention.
TEST(Hardening, RetainedStreamsShareAByteBudgetOldestFirst) {
  server_process srv({"--retained-max-bytes", "40000", "--demo-tokens-per-second", "0"});
  ws_client ws(srv.port());
  std::vector<std::string> ids;
  for (int i = 0; i < 40; ++i) {
    ws.send_json(stream_request("budget " + std::to_string(i)));
    auto done = ws.read_until("stream_complete", 10s).back();
    ids.push_back(std::string(done.at("streamId").as_string()));
  }
  auto metrics = http_request(srv.port(), http::verb::get, "/metrics").body;
  EXPECT_EQ(metrics.find("streamgate_streams_evicted_total 0\n"), std::string::npos) << "nothing was evicted";
  auto retained_at = metrics.find("\nstreamgate_streams_retained_bytes ");
  ASSERT_NE(retained_at, std::string::npos);
  auto retained = std::stod(metrics.substr(retained_at + 35));
  EXPECT_LE(retained, 40000.0);
  EXPECT_GT(retained, 0.0);
  // The oldest is gone, the newest is still there, byte for byte.
  ws.send_json(boost::json::object{{"action", "resume"}, {"streamId", ids.front()}, {"lastSeq", 0}});
  auto gone = ws.read(5s);
  EXPECT_EQ(gone.at("code"), "not_found") << boost::json::serialize(gone);
  ws.send_json(boost::json::object{{"action", "resume"}, {"streamId", ids.back()}, {"lastSeq", 0}});
  auto replay = ws.read_until("stream_complete", 5s);
  EXPECT_EQ(replay.front().at("type"), "stream_start");
  std::string text;
  for (auto& e : replay)
    if (e.at("type") == "stream_chunk") text += std::string(e.at("content").as_string());
  EXPECT_EQ(text, std::string(replay.back().at("fullContent").as_string()));
}

}  // namespace
}  // namespace sg::test

namespace sg::test {
namespace {

// The request deadlines bound how long a request takes to arrive, not how long its answer may take:
// a non-streamed completion that runs past them still gets its answer.
TEST(Hardening, SlowAnswerOutlivesTheRequestDeadlines) {
  server_process srv({"--header-timeout-ms", "300", "--body-timeout-ms", "300", "--demo-tokens-per-second", "100"});
  boost::json::object chat{{"model", "demo"},
                           {"stream", false},
                           {"messages", boost::json::array{boost::json::object{{"role", "user"}, {"content", "slow"}}}}};
  auto t0 = std::chrono::steady_clock::now();
  auto r = http_request(srv.port(), http::verb::post, "/v1/chat/completions", boost::json::serialize(chat), {}, 10s);
  EXPECT_GT(std::chrono::steady_clock::now() - t0, 600ms) << "the answer came too fast to prove anything";
  ASSERT_EQ(r.status, 200u) << r.body;
  EXPECT_FALSE(r.json().at("choices").at(0).at("message").at("content").as_string().empty());
}

}  // namespace
}  // namespace sg::test
