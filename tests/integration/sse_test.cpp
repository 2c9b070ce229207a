// The SSE transport: POST streams, Last-Event-ID and ?lastSeq resume, heartbeats, 202 mode.
#include "integration/harness.hpp"
#include "core/asio.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <sys/socket.h>
#include <thread>

namespace sg::test {
namespace {

namespace json = boost::json;

std::string body_for(const std::string& input) {
  return json::serialize(json::object{{"projectId", "test"}, {"userInput", input}});
}

// Reads events until the response ends; checks ids == seq, gapless from `after`+1.
std::string read_to_end(sse_client& c, std::uint64_t after, std::string text, std::string* full = nullptr) {
  std::uint64_t expect = after + 1;
  bool complete = false;
  while (auto ev = c.next(10s)) {
    auto o = ev->json();
    auto first = o.contains("firstSeq") ? o.at("firstSeq").to_number<std::uint64_t>() : o.at("seq").to_number<std::uint64_t>();
    EXPECT_EQ(first, expect);
    EXPECT_EQ(ev->id, std::to_string(o.at("seq").to_number<std::uint64_t>()));
    EXPECT_EQ(ev->type, std::string(o.at("type").as_string()));
    expect = o.at("seq").to_number<std::uint64_t>() + 1;
    if (ev->type == "stream_chunk") text += std::string(o.at("content").as_string());
    if (ev->type == "stream_complete") {
      complete = true;
      if (full) *full = std::string(o.at("fullContent").as_string());
    }
  }
  EXPECT_TRUE(complete);
  return text;
}

TEST(Sse, PostWithEventStreamAcceptStreamsTheAnswer) {
  server_process srv;
  sse_client c(srv.port(), http::verb::post, "/v1/streams", body_for("sse titles please"));
  EXPECT_EQ(c.status(), 200u);
  EXPECT_EQ(c.headers().at("Content-Type"), "text/event-stream; charset=utf-8");
  EXPECT_EQ(c.headers().at("X-Accel-Buffering"), "no");
  EXPECT_EQ(c.headers().at("Cache-Control"), "no-cache");
  std::string full;
  auto text = read_to_end(c, 0, "", &full);
  EXPECT_EQ(text, full);
  EXPECT_FALSE(full.empty());
}

TEST(Sse, TokensMadeLateByAStalledServerMergeBehindOneWriteAndTheRestArriveOnTime) {
  // As on a WebSocket (ws_stream_test.cpp): a reader with room to spare, the server stopped for
  // 500 ms (20 tokens' worth at 40 tokens/s). The first overdue token goes out alone, the rest
  // merge behind its write, and the tokens made on time afterwards go out one per event.
  server_process srv({"--demo-ttft-ms", "0", "--demo-tokens-per-second", "40"});
  sse_client c(srv.port(), http::verb::post, "/v1/streams", body_for("Write titles about merging overdue tokens"));
  ASSERT_EQ(c.status(), 200u);
  std::vector<json::object> events;
  while (auto ev = c.next(10s)) {
    events.push_back(ev->json());
    if (ev->type == "stream_chunk") break;
  }
  srv.signal(SIGSTOP);
  std::this_thread::sleep_for(500ms);  // the stall itself, not a wait for anything
  srv.signal(SIGCONT);
  while (auto ev = c.next(20s)) events.push_back(ev->json());

  std::uint64_t expect = 1;
  std::string text, full;
  for (auto& o : events) {
    auto seq = o.at("seq").to_number<std::uint64_t>();
    auto first = o.contains("firstSeq") ? o.at("firstSeq").to_number<std::uint64_t>() : seq;
    EXPECT_EQ(first, expect);
    expect = seq + 1;
    if (o.at("type") == "stream_complete") full = std::string(o.at("fullContent").as_string());
    if (o.at("type") == "stream_chunk") text += std::string(o.at("content").as_string());
  }
  EXPECT_EQ(text, full);
  auto w = widths_of(events);
  EXPECT_GE(w.widest, 10u);
  EXPECT_GE(w.single_after, 3u);
}

TEST(Sse, AcceptJsonGets202ThenEventsEndpointStreams) {
  server_process srv;
  auto r = http_request(srv.port(), http::verb::post, "/v1/streams", body_for("async"), {{"Accept", "application/json"}});
  ASSERT_EQ(r.status, 202u);
  auto id = std::string(r.json().at("streamId").as_string());
  sse_client c(srv.port(), http::verb::get, "/v1/streams/" + id + "/events");
  std::string full;
  EXPECT_EQ(read_to_end(c, 0, "", &full), full);
}

TEST(Sse, ResumeWithLastEventIdAndLastSeqAtRandomPoints) {
  server_process srv({"--demo-ttft-ms", "5", "--demo-tokens-per-second", "1000"});
  std::mt19937 rng(7);
  for (int run = 0; run < 8; ++run) {
    std::string id, text;
    std::uint64_t last = 0;
    {
      sse_client c(srv.port(), http::verb::post, "/v1/streams", body_for("sse resume " + std::to_string(run)));
      int stop_after = std::uniform_int_distribution<int>(1, 100)(rng);
      for (int i = 0; i < stop_after; ++i) {
        auto ev = c.next();
        ASSERT_TRUE(ev);
        auto o = ev->json();
        id = std::string(o.at("streamId").as_string());
        last = std::stoull(ev->id);
        if (ev->type == "stream_chunk") text += std::string(o.at("content").as_string());
      }
      c.drop();
    }
    bool by_header = run % 2 == 0;
    std::map<std::string, std::string> headers;
    std::string target = "/v1/streams/" + id + "/events";
    if (by_header) headers["Last-Event-ID"] = std::to_string(last);
    else target += "?lastSeq=" + std::to_string(last);
    sse_client c2(srv.port(), http::verb::get, target, {}, headers);
    std::string full;
    auto all = read_to_end(c2, last, text, &full);
    EXPECT_EQ(all, full) << "run " << run;
  }
}

// A reader that stops reading is cut off once its queue passes --outbound-max-bytes; the stream goes
// on to its end, and another client is served meanwhile.
TEST(Sse, ReaderPastTheHardCapIsCutOffAndTheAnswerGoesOn) {
  server_process srv({"--demo-ttft-ms", "1", "--demo-tokens-per-second", "0", "--socket-send-buffer", "4096",
                      "--outbound-max-bytes", "2048", "--outbound-merge-bytes", "1000000"});
  sse_client slow(srv.port(), http::verb::post, "/v1/streams", body_for("a long answer for a slow reader"), {}, 2048);
  ASSERT_EQ(slow.status(), 200u);
  ASSERT_TRUE(srv.wait_for_log("sse client too slow", 10s));
  {
    // Served meanwhile: a whole answer in one response (a streamed one could itself lag past this tiny
    // cap on a busy machine, with merging off).
    json::object chat{{"model", "demo"}, {"messages", json::array{json::object{{"role", "user"}, {"content", "meanwhile"}}}}};
    auto r = http_request(srv.port(), http::verb::post, "/v1/chat/completions", json::serialize(chat), {}, 10s);
    EXPECT_EQ(r.status, 200u);
    EXPECT_FALSE(r.json().at("choices").at(0).at("message").at("content").as_string().empty());
  }
  // What reached the slow reader before the cut ends without a terminal event.
  std::string id, text;
  std::uint64_t last = 0;
  bool terminal = false;
  try {
    while (auto ev = slow.next(10s)) {
      auto o = ev->json();
      id = std::string(o.at("streamId").as_string());
      EXPECT_EQ(o.at("seq").to_number<std::uint64_t>(), ++last);  // gapless: nothing merged or dropped
      if (ev->type == "stream_chunk") text += std::string(o.at("content").as_string());
      terminal = terminal || ev->type == "stream_complete";
    }
  } catch (const std::exception&) {
    // The connection was closed mid-body: what was read so far stands.
  }
  EXPECT_FALSE(terminal);
  ASSERT_FALSE(id.empty());
  // The answer went on without the reader: it completes, and what the reader got is its beginning.
  json::object info;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  do {
    info = http_request(srv.port(), http::verb::get, "/v1/streams/" + id).json().as_object();
  } while (info.at("state") == "running" && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(info.at("state"), "completed");
  std::string final_text(info.at("text").as_string());
  EXPECT_LT(text.size(), final_text.size());
  EXPECT_EQ(final_text.substr(0, text.size()), text);
  // Its end can be fetched again (a replay from the cut itself would not fit this tiny cap).
  auto total = info.at("lastSeq").to_number<std::uint64_t>();
  sse_client tail(srv.port(), http::verb::get, "/v1/streams/" + id + "/events?lastSeq=" + std::to_string(total - 2));
  std::string full;
  read_to_end(tail, total - 2, "", &full);
  EXPECT_EQ(full, final_text);
}

TEST(Sse, HeartbeatCommentsKeepAnIdleStreamAlive) {
  server_process srv({"--demo-ttft-ms", "400", "--sse-heartbeat-ms", "50"});
  sse_client c(srv.port(), http::verb::post, "/v1/streams", body_for("heartbeat"));
  std::string full;
  read_to_end(c, 0, "", &full);
  EXPECT_GE(c.comments(), 3);
}

TEST(Sse, KeepAliveConnectionServesTheNextRequestAfterTheStream) {
  server_process srv;
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), srv.port()));
  timeval tv{10, 0};  // a deadline on every blocking read below
  setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  beast::flat_buffer buf;
  http::request<http::string_body> req{http::verb::post, "/v1/streams", 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(srv.port()));
  req.set(http::field::accept, "text/event-stream");
  req.body() = body_for("keep alive");
  req.prepare_payload();
  http::write(sock, req);
  http::response<http::string_body> res;
  http::read(sock, buf, res);  // the whole chunked event stream, up to its last chunk
  EXPECT_TRUE(res.chunked());
  EXPECT_NE(res.body().find("event: stream_complete"), std::string::npos);
  EXPECT_TRUE(res.keep_alive());
  // The same connection serves the next request.
  http::request<http::string_body> health{http::verb::get, "/healthz", 11};
  health.set(http::field::host, "127.0.0.1:" + std::to_string(srv.port()));
  http::write(sock, health);
  http::response<http::string_body> res2;
  http::read(sock, buf, res2);
  EXPECT_EQ(res2.result_int(), 200u);
  EXPECT_EQ(res2.body(), R"({"status":"ok"})");
}

// A replay is written as it was read from the log: every waiting event in one chunk of the body
// (at most 64 to a chunk), not a send per event.
TEST(Sse, AReplayGoesOutInOneChunkPerSixtyFourEvents) {
  server_process srv({"--demo-ttft-ms", "1", "--demo-tokens-per-second", "1000"});
  std::string id;
  {
    sse_client c(srv.port(), http::verb::post, "/v1/streams", body_for("replay in one go"));
    while (auto ev = c.next(10s)) id = std::string(ev->json().at("streamId").as_string());
  }
  ASSERT_FALSE(id.empty());
  net::io_context ioc;
  tcp::socket sock(ioc);
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), srv.port()));
  timeval tv{10, 0};
  setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  http::request<http::string_body> req{http::verb::get, "/v1/streams/" + id + "/events", 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(srv.port()));
  http::write(sock, req);
  beast::flat_buffer buf;
  http::response_parser<http::string_body> parser;
  std::size_t chunks = 0;
  auto on_chunk = [&](std::uint64_t size, beast::string_view, beast::error_code&) { chunks += size > 0; };
  parser.on_chunk_header(on_chunk);
  http::read(sock, buf, parser);
  const auto& body = parser.get().body();
  std::size_t events = 0;
  for (auto at = body.find("\nevent: "); at != std::string::npos; at = body.find("\nevent: ", at + 1)) ++events;
  ASSERT_GE(events, 5u) << body;  // start, progress, chunks (merged: nothing was written yet), end
  EXPECT_NE(body.find("event: stream_complete"), std::string::npos);
  EXPECT_EQ(chunks, (events + 63) / 64) << events << " events";
}

TEST(Sse, StreamStatusAndDeleteCancels) {
  server_process srv({"--demo-ttft-ms", "5", "--demo-tokens-per-second", "20"});
  auto r = http_request(srv.port(), http::verb::post, "/v1/streams", body_for("delete me"), {{"Accept", "application/json"}});
  auto id = std::string(r.json().at("streamId").as_string());
  sse_client c(srv.port(), http::verb::get, "/v1/streams/" + id + "/events");
  for (;;) {
    auto ev = c.next();
    ASSERT_TRUE(ev);
    if (ev->type == "stream_chunk") break;
  }
  auto st = http_request(srv.port(), http::verb::get, "/v1/streams/" + id).json().as_object();
  EXPECT_EQ(st.at("state"), "running");
  auto del = http_request(srv.port(), http::verb::delete_, "/v1/streams/" + id);
  EXPECT_EQ(del.status, 202u);
  std::string last_type;
  while (auto ev = c.next()) last_type = ev->type;
  EXPECT_EQ(last_type, "stream_cancelled");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/" + id).json().at("state"), "cancelled");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/st_none").status, 404u);
}

}  // namespace
}  // namespace sg::test
