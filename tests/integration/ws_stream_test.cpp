// End-to-end WebSocket streaming against the real binary: full streams, cancel, resume, concurrency.
#include "integration/harness.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <random>
#include <thread>

namespace sg::test {
namespace {

namespace json = boost::json;

std::string str(const json::value& v) { return std::string(v.as_string()); }
std::uint64_t num(const json::value& v) { return v.to_number<std::uint64_t>(); }

// Checks one stream's events: seq gapless from `from`+1 (a merged chunk covers firstSeq..seq),
// progress stages in order, and the chunks' text equal to fullContent. Returns fullContent.
std::string check_stream(const std::vector<json::object>& events, const std::string& stream_id, std::uint64_t from = 0,
                         std::string prefix = {}) {
  std::uint64_t expect = from + 1;
  std::string text = std::move(prefix), full;
  bool complete = false;
  for (auto& e : events) {
    if (!e.contains("streamId") || str(e.at("streamId")) != stream_id) continue;
    auto first = e.contains("firstSeq") ? num(e.at("firstSeq")) : num(e.at("seq"));
    EXPECT_EQ(first, expect) << json::serialize(e);
    expect = num(e.at("seq")) + 1;
    if (e.at("type") == "stream_chunk") text += str(e.at("content"));
    if (e.at("type") == "stream_complete") {
      full = str(e.at("fullContent"));
      complete = true;
    }
  }
  EXPECT_TRUE(complete);
  EXPECT_EQ(text, full);
  return full;
}

TEST(WebSocketStream, FullStreamDeliversProgressChunksAndComplete) {
  server_process srv({"--demo-ttft-ms", "30", "--demo-tokens-per-second", "300"});
  ws_client c(srv.port());
  c.send_json(stream_request("Write titles about distributed tracing for busy teams", "test", "r1"));
  auto events = c.read_until("stream_complete");
  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events[0].at("type"), "stream_start");
  EXPECT_EQ(num(events[0].at("seq")), 1u);
  EXPECT_EQ(events[0].at("requestId"), "r1");
  EXPECT_EQ(events[0].at("sessionId"), "test");
  auto id = str(events[0].at("streamId"));

  std::vector<std::string> stages;
  int chunks = 0;
  for (auto& e : events) {
    if (e.at("type") == "progress") stages.push_back(str(e.at("stage")));
    // A merged chunk holds seq - firstSeq + 1 deltas.
    if (e.at("type") == "stream_chunk")
      chunks += static_cast<int>(num(e.at("seq")) - (e.contains("firstSeq") ? num(e.at("firstSeq")) : num(e.at("seq"))) + 1);
  }
  std::vector<std::string> want = {"initializing", "analyzing", "generating", "finalizing"};
  EXPECT_EQ(stages, want);
  EXPECT_GT(chunks, 20);
  auto full = check_stream(events, id);
  EXPECT_NE(full.find("Distributed Tracing"), std::string::npos) << full;
  auto& done = events.back();
  EXPECT_EQ(num(done.at("usage").at("outputTokens")), static_cast<std::uint64_t>(chunks));
  EXPECT_GT(num(done.at("usage").at("inputTokens")), 0u);
  EXPECT_EQ(num(done.at("metrics").at("totalChunks")), static_cast<std::uint64_t>(chunks));
  // The demo's ttft counts from the pacer's last tick before the stream began: up to 1 ms before it.
  EXPECT_GE(done.at("metrics").at("firstChunkMs").to_number<std::int64_t>(), 29);
}

TEST(WebSocketStream, ChunksArriveOverTimeAtTheConfiguredPace) {
  // 40 tokens/s: consecutive chunks are due 25 ms apart, so the stream spans well over a second.
  server_process srv({"--demo-ttft-ms", "50", "--demo-tokens-per-second", "40"});
  ws_client c(srv.port());
  c.send_json(stream_request("pace check"));
  auto t0 = std::chrono::steady_clock::now();
  std::vector<std::int64_t> arrivals_ms, due_us;
  while (arrivals_ms.size() < 10) {
    auto e = c.read(10s);
    if (e.at("type") != "stream_chunk") continue;
    arrivals_ms.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count());
    due_us.push_back(e.at("dueUs").to_number<std::int64_t>());
  }
  // The schedule is absolute: token k is due exactly k/rate after the first.
  for (std::size_t k = 1; k < due_us.size(); ++k) EXPECT_NEAR(due_us[k] - due_us[0], 25000.0 * double(k), 1.0);
  EXPECT_GE(arrivals_ms.back() - arrivals_ms.front(), 180);  // 9 intervals of 25 ms, not all at once
}

TEST(WebSocketStream, CancelStopsTheStreamAtOnce) {
  server_process srv({"--demo-ttft-ms", "10", "--demo-tokens-per-second", "50"});
  ws_client c(srv.port());
  c.send_json(stream_request("cancel me"));
  auto events = c.read_until("stream_chunk");
  auto id = str(events.front().at("streamId"));
  c.send_json({{"action", "cancel"}, {"streamId", id}});
  auto rest = c.read_until("stream_cancelled", 5s, id);
  for (auto& e : rest) EXPECT_NE(e.at("type"), "stream_complete");
  auto info = http_request(srv.port(), http::verb::get, "/v1/streams/" + id);
  EXPECT_EQ(info.status, 200u);
  EXPECT_EQ(info.json().at("state"), "cancelled");
  // The connection keeps working.
  c.send_json({{"action", "ping"}, {"requestId", "p"}});
  EXPECT_EQ(c.read().at("type"), "pong");
}

TEST(WebSocketStream, CancelOfUnknownStreamIsNotFound) {
  server_process srv;
  ws_client c(srv.port());
  c.send_json({{"action", "cancel"}, {"streamId", "st_nope"}, {"requestId", "x"}});
  auto e = c.read();
  EXPECT_EQ(e.at("type"), "error");
  EXPECT_EQ(e.at("code"), "not_found");
  EXPECT_EQ(e.at("requestId"), "x");
}

TEST(WebSocketStream, ResumeAfterDroppedConnectionAtRandomPointsLosesAndRepeatsNothing) {
  server_process srv({"--demo-ttft-ms", "5", "--demo-tokens-per-second", "2000"});
  std::mt19937 rng(12345);
  for (int run = 0; run < 12; ++run) {
    std::string id;
    std::uint64_t last = 0;
    std::string text;
    std::vector<json::object> seen;
    {
      ws_client c(srv.port());
      c.send_json(stream_request("resume run " + std::to_string(run)));
      int stop_after = std::uniform_int_distribution<int>(1, 120)(rng);
      for (int i = 0; i < stop_after; ++i) {
        auto e = c.read();
        seen.push_back(e);
        id = str(e.at("streamId"));
        last = num(e.at("seq"));
        if (e.at("type") == "stream_complete") break;
      }
      c.drop();  // no close handshake: the server learns of it from the socket
    }
    ws_client c2(srv.port());
    c2.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", last}});
    if (seen.back().at("type") != "stream_complete") {
      auto more = c2.read_until("stream_complete", 10s, id);
      seen.insert(seen.end(), more.begin(), more.end());
    }
    check_stream(seen, id);
  }
}

TEST(WebSocketStream, ResumeFromZeroReplaysEverythingAfterCompletion) {
  server_process srv;
  ws_client c(srv.port());
  c.send_json(stream_request("replay"));
  auto first = c.read_until("stream_complete");
  auto id = str(first.front().at("streamId"));
  ws_client c2(srv.port());
  c2.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  auto replay = c2.read_until("stream_complete", 5s, id);
  // The backlog is written as fast as the socket takes it, so chunks may arrive merged.
  EXPECT_EQ(json::serialize(replay.front()), json::serialize(first.front()));
  EXPECT_EQ(json::serialize(replay.back()), json::serialize(first.back()));
  EXPECT_EQ(check_stream(replay, id), check_stream(first, id));
}

TEST(WebSocketStream, TwoHundredConcurrentStreamsAllComplete) {
  server_process srv({"--demo-ttft-ms", "20", "--demo-tokens-per-second", "200"});
  constexpr int connections = 50, per_connection = 4;
  std::vector<std::unique_ptr<ws_client>> clients;
  for (int i = 0; i < connections; ++i) clients.push_back(std::make_unique<ws_client>(srv.port()));
  for (int i = 0; i < connections; ++i)
    for (int k = 0; k < per_connection; ++k)
      clients[i]->send_json(stream_request("concurrent " + std::to_string(i) + " " + std::to_string(k)));
  int completed = 0;
  for (auto& c : clients) {
    std::map<std::string, std::vector<json::object>> by_stream;
    int done = 0;
    while (done < per_connection) {
      auto e = c->read(20s);
      ASSERT_NE(e.at("type"), "error") << json::serialize(e);
      by_stream[str(e.at("streamId"))].push_back(e);
      if (e.at("type") == "stream_complete") ++done;
    }
    for (auto& [id, evs] : by_stream) check_stream(evs, id);
    completed += done;
  }
  EXPECT_EQ(completed, connections * per_connection);
  auto metrics = http_request(srv.port(), http::verb::get, "/metrics").body;
  EXPECT_NE(metrics.find("streamgate_streams_total{outcome=\"completed\"} 200"), std::string::npos) << metrics;
  // Paced chunks left in the pacer's send batches, several to a submission, and arrived exact
  // (check_stream above). How many depends on the machine: a run that starts late (a slow build, a
  // busy core) writes its frames at once instead.
  auto batched = metric_value(srv.port(), "streamgate_batched_sends_total");
  auto submissions = metric_value(srv.port(), "streamgate_send_batches_total");
  EXPECT_GT(batched, 0);
  EXPECT_GT(batched, 2 * submissions);
}

TEST(WebSocketStream, StreamOutlivesItsConnection) {
  server_process srv({"--demo-ttft-ms", "5", "--demo-tokens-per-second", "300"});
  std::string id;
  {
    ws_client c(srv.port());
    c.send_json(stream_request("outlive"));
    id = str(c.read().at("streamId"));
    c.drop();
  }
  // Generation goes on without a subscriber; the answer is complete when asked later.
  ASSERT_TRUE(srv.wait_for_log("\"streamId\":\"" + id + "\",\"owner\"", 10s));
  auto info = http_request(srv.port(), http::verb::get, "/v1/streams/" + id).json().as_object();
  EXPECT_EQ(info.at("state"), "completed");
  EXPECT_GT(info.at("text").as_string().size(), 100u);
}

TEST(WebSocketStream, SlowReaderGetsMergedChunksAndNothingIsLost) {
  // A tiny kernel buffer on both sides and a fast stream: the server's queue backs up and merges.
  server_process srv({"--demo-ttft-ms", "1", "--demo-tokens-per-second", "0", "--socket-send-buffer", "4096"});
  ws_client c(srv.port(), "/ws", {}, 2048);
  for (int i = 0; i < 4; ++i) c.send_json(stream_request("merge test " + std::to_string(i)));
  // Read nothing until the server has produced everything, then drain.
  ASSERT_TRUE(srv.wait_for_log("\"outcome\":\"completed\"", 10s));
  std::map<std::string, std::vector<json::object>> by_stream;
  int done = 0, merged = 0;
  while (done < 4) {
    auto e = c.read(10s);
    by_stream[str(e.at("streamId"))].push_back(e);
    if (e.contains("firstSeq")) ++merged;
    if (e.at("type") == "stream_complete") ++done;
  }
  for (auto& [id, evs] : by_stream) check_stream(evs, id);
  EXPECT_GT(merged, 0);
}

TEST(WebSocketStream, ReadersTooSlowForPacedStreamsGetEveryChunkAfterTheBatchsShortSends) {
  // Paced streams, whose frames leave through the pacer's send batch, to readers that read nothing
  // until a stream has ended, over tiny kernel buffers: a batched send comes back short, the socket
  // keeps the rest and its session flushes it, and what the streams make meanwhile queues and merges.
  server_process srv({"--demo-ttft-ms", "1", "--demo-tokens-per-second", "500", "--socket-send-buffer", "4096"});
  constexpr int readers = 4, per_reader = 2;
  std::vector<std::unique_ptr<ws_client>> cs;
  for (int r = 0; r < readers; ++r) {
    cs.push_back(std::make_unique<ws_client>(srv.port(), "/ws", std::map<std::string, std::string>{}, 2048));
    for (int i = 0; i < per_reader; ++i) cs.back()->send_json(stream_request("paced slow " + std::to_string(r * 10 + i)));
  }
  ASSERT_TRUE(srv.wait_for_log("\"outcome\":\"completed\"", 10s));
  int merged = 0;
  for (auto& c : cs) {
    std::map<std::string, std::vector<json::object>> by_stream;
    for (int done = 0; done < per_reader;) {
      auto e = c->read(10s);
      by_stream[str(e.at("streamId"))].push_back(e);
      if (e.contains("firstSeq")) ++merged;
      if (e.at("type") == "stream_complete") ++done;
    }
    for (auto& [id, evs] : by_stream) check_stream(evs, id);
  }
  EXPECT_GT(merged, 0);
  EXPECT_GT(metric_value(srv.port(), "streamgate_batched_sends_total"), 0);
  EXPECT_GT(metric_value(srv.port(), "streamgate_batched_short_sends_total"), 0) << "no batched send came back short";
}

TEST(WebSocketStream, TokensMadeLateByAStalledServerMergeBehindOneWriteAndTheRestArriveOnTime) {
  // A reader with room to spare, so no socket fills: what merges here merges because the server
  // fell behind its pacer. The process is stopped for 500 ms, 20 tokens' worth at 40 tokens/s;
  // when it runs again the pacer makes every overdue token in one go. The first goes out alone
  // and the rest merge behind its write; tokens made on time afterwards go out one per frame.
  server_process srv({"--demo-ttft-ms", "0", "--demo-tokens-per-second", "40"});
  ws_client c(srv.port());
  c.send_json(stream_request("Write titles about merging overdue tokens for busy teams"));
  auto events = c.read_until("stream_chunk");
  auto id = str(events.front().at("streamId"));
  srv.signal(SIGSTOP);
  std::this_thread::sleep_for(500ms);  // the stall itself, not a wait for anything
  srv.signal(SIGCONT);
  auto rest = c.read_until("stream_complete", 20s, id);
  events.insert(events.end(), rest.begin(), rest.end());
  check_stream(events, id);

  auto w = widths_of(events);
  // 20 tokens fell due during the stall; one of them left alone, most of the others in one frame.
  EXPECT_GE(w.widest, 10u);
  // Caught up, the pacer's tokens are on time again and each is written as it is made.
  EXPECT_GE(w.single_after, 3u);
}

TEST(WebSocketStream, ReaderPastTheHardCapIsClosedWith1008AndCanResume) {
  server_process srv({"--demo-ttft-ms", "1", "--demo-tokens-per-second", "0", "--socket-send-buffer", "4096",
                      "--outbound-max-bytes", "2048"});
  ws_client c(srv.port(), "/ws", {}, 2048);
  for (int i = 0; i < 4; ++i) c.send_json(stream_request("cap test " + std::to_string(i)));
  ASSERT_TRUE(srv.wait_for_log("slow consumer closed", 10s));
  std::vector<json::object> seen;
  while (auto t = c.read_text(10s)) seen.push_back(json::parse(*t).as_object());
  EXPECT_EQ(c.close_code(), 1008);
  // Resume the first stream from what arrived: the whole answer is there.
  std::string id;
  std::uint64_t last = 0;
  for (auto& e : seen)
    if (e.contains("streamId") && (id.empty() || str(e.at("streamId")) == id)) {
      id = str(e.at("streamId"));
      last = num(e.at("seq"));
    }
  ASSERT_FALSE(id.empty());
  ws_client c2(srv.port());
  c2.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", last}});
  auto rest = c2.read_until("stream_complete", 10s, id);
  std::vector<json::object> all;
  for (auto& e : seen)
    if (e.contains("streamId") && str(e.at("streamId")) == id) all.push_back(e);
  all.insert(all.end(), rest.begin(), rest.end());
  check_stream(all, id);
}

TEST(WebSocketStream, OneSlowClientDoesNotDelayAnother) {
  server_process srv({"--demo-ttft-ms", "5", "--demo-tokens-per-second", "0", "--socket-send-buffer", "4096"});
  ws_client slow(srv.port(), "/ws", {}, 2048);
  for (int i = 0; i < 4; ++i) slow.send_json(stream_request("slow " + std::to_string(i)));
  ws_client fast(srv.port());
  fast.send_json(stream_request("fast"));
  auto events = fast.read_until("stream_complete", 5s);
  check_stream(events, str(events.front().at("streamId")));
}

}  // namespace
}  // namespace sg::test

namespace sg::test {
namespace {

TEST(WebSocketStream, RetriedRequestIdGetsTheSameStreamNotASecondAnswer) {
  server_process srv({"--demo-ttft-ms", "200"});
  // The same client on both connections (a browser's cookie, or here a program's key): retries are
  // matched by owner, so a client without an identity that outlives a connection cannot be deduplicated.
  std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "retrying-client-0123456789ab"}};
  std::string first_id;
  {
    ws_client c(srv.port(), "/ws", me);
    c.send_json(stream_request("only once", "dedupe", "req-42"));
    first_id = std::string(c.read().at("streamId").as_string());
    c.drop();  // lost before the client saw anything more
  }
  ws_client c2(srv.port(), "/ws", me);
  c2.send_json(stream_request("only once", "dedupe", "req-42"));
  auto events = c2.read_until("stream_complete", 10s);
  EXPECT_EQ(std::string(events.front().at("streamId").as_string()), first_id);
  EXPECT_EQ(events.front().at("seq"), 1);
  auto history = http_request(srv.port(), http::verb::get, "/v1/projects/dedupe/messages", {}, me).json();
  EXPECT_EQ(history.at("items").as_array().size(), 2u);  // one question, one answer
}

}  // namespace
}  // namespace sg::test
