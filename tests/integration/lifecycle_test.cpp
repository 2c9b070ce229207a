// Start-up, configuration, the connection table, drain on SIGTERM, expiry of finished streams.
#include "integration/harness.hpp"
#include "store/database.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <fstream>

namespace sg::test {
namespace {

namespace json = boost::json;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

TEST(Lifecycle, HealthReadinessAndTestPage) {
  server_process srv;
  auto h = http_request(srv.port(), http::verb::get, "/healthz");
  EXPECT_EQ(h.status, 200u);
  EXPECT_EQ(h.json().at("status"), "ok");
  auto r = http_request(srv.port(), http::verb::get, "/readyz");
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.json().at("store"), "ok");
  auto page = http_request(srv.port(), http::verb::get, "/");
  EXPECT_EQ(page.status, 200u);
  EXPECT_NE(page.body.find("new WebSocket"), std::string::npos);
  auto m = http_request(srv.port(), http::verb::get, "/metrics");
  EXPECT_NE(m.body.find("# TYPE streamgate_connections_active gauge"), std::string::npos);
}

class ConnectionTable : public per_store {};

TEST_P(ConnectionTable, RowLivesAsLongAsTheConnection) {
  server_process srv(with_store());
  std::string id;
  {
    ws_client c(srv.port());
    id = c.connection_id();
    // The row is written off the I/O thread; ping round-trips until it is visible.
    auto db = store().open(srv.data_dir());
    std::optional<store::connection_row> row;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!row && std::chrono::steady_clock::now() < deadline) {
      c.send_json({{"action", "ping"}});
      c.read();
      row = db->get_connection(id);
    }
    ASSERT_TRUE(row);
    EXPECT_EQ(row->source_ip, "127.0.0.1");
    EXPECT_EQ(row->user_agent, "streamgate-tests");
    EXPECT_GT(row->ttl, row->connected_at);
    auto mgmt = http_request(srv.port(), http::verb::get, "/@connections/" + id, {}, srv.admin_headers()).json().as_object();
    EXPECT_EQ(mgmt.at("identity").at("sourceIp"), "127.0.0.1");
    c.close();
  }
  ASSERT_TRUE(srv.wait_for_log("\"msg\":\"connection close\",\"connectionId\":\"" + id, 5s));
  // The delete follows the close on a store thread: poll until it landed.
  auto db = store().open(srv.data_dir());
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (db->get_connection(id) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);  // between polls of the condition, not in place of one
  EXPECT_FALSE(db->get_connection(id));
}

TEST_P(ConnectionTable, RestartExpiresStaleRows) {
  char tmpl[] = "/tmp/streamgate-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl;
  {
    auto db = store().open(dir);
    store::connection_row stale{"crashed-conn", now_ms() - 3'600'000, now_ms() - 3'600'000, now_ms() - 1000,
                                "10.0.0.1", "old", ""};
    store::connection_row fresh{"recent-conn", now_ms(), now_ms(), now_ms() + 3'600'000, "127.0.0.1", "new", ""};
    db->put_connection(stale);
    db->put_connection(fresh);
  }
  {
    server_process srv(with_store(), dir);
    EXPECT_TRUE(srv.wait_for_log("expired stale connection rows", 5s));
    auto db = store().open(dir);
    EXPECT_FALSE(db->get_connection("crashed-conn"));
    EXPECT_TRUE(db->get_connection("recent-conn"));
  }
  std::filesystem::remove_all(dir);
}

SG_FOR_EACH_STORE(ConnectionTable);

TEST(Lifecycle, SigtermLetsInFlightStreamsFinishThenCloses1001) {
  server_process srv({"--demo-ttft-ms", "50", "--demo-tokens-per-second", "200"});
  ws_client c(srv.port());
  c.send_json(stream_request("drain me"));
  c.read();  // stream_start
  srv.signal(SIGTERM);
  auto events = c.read_until("stream_complete", 10s);
  EXPECT_EQ(events.back().at("type"), "stream_complete");
  EXPECT_FALSE(c.read_text(5s));
  EXPECT_EQ(c.close_code(), 1001);
  auto status = srv.wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0);
}

TEST(Lifecycle, DrainTimeoutInterruptsStreamsThatDoNotFinish) {
  server_process srv({"--demo-ttft-ms", "60000", "--drain-timeout-ms", "200"});
  ws_client c(srv.port());
  c.send_json(stream_request("never finishes"));
  c.read();
  srv.signal(SIGTERM);
  auto events = c.read_until("error", 10s);
  EXPECT_EQ(events.back().at("code"), "interrupted");
  EXPECT_EQ(events.back().at("retryable"), true);
  ASSERT_TRUE(srv.wait(10s));
}

// A client that never answers the close handshake is still connected when the drain gives up on it:
// its session goes with the server's pending work, and must still find the app it releases its
// connection slot into (under AddressSanitizer, a use after free ends the process with an error).
TEST(Lifecycle, AClientThatNeverAnswersTheCloseDoesNotOutliveTheServersState) {
  server_process srv(std::vector<std::string>{});
  ws_client c(srv.port());  // connected; from now on the client reads nothing and answers nothing
  srv.signal(SIGTERM);
  auto status = srv.wait(20s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << srv.log();
  EXPECT_NE(srv.log().find("\"stopped\""), std::string::npos);
}

TEST(Lifecycle, FinishedStreamsExpireAfterRetention) {
  server_process srv({"--stream-retention-ms", "100"});
  ws_client c(srv.port());
  c.send_json(stream_request("expire"));
  auto events = c.read_until("stream_complete");
  auto id = std::string(events.front().at("streamId").as_string());
  // Poll the status endpoint with a deadline until the sweeper removes it.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  unsigned status = 200;
  while (status == 200 && std::chrono::steady_clock::now() < deadline)
    status = http_request(srv.port(), http::verb::get, "/v1/streams/" + id).status;
  EXPECT_EQ(status, 404u);
  c.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  EXPECT_EQ(c.read().at("code"), "not_found");
}

TEST(Lifecycle, IdleConnectionThatIgnoresPingsIsClosed) {
  // The client never reads, so it never answers the server's pings.
  server_process srv({"--idle-timeout-ms", "300", "--demo-ttft-ms", "1200"});
  ws_client quiet(srv.port());
  // A client that reads (and so answers pings) stays connected across several idle periods:
  // nothing but pings arrives for 1.2 s before the first chunk.
  ws_client lively(srv.port());
  lively.send_json(stream_request("idle"));
  auto events = lively.read_until("stream_chunk", 10s);
  EXPECT_EQ(events.back().at("type"), "stream_chunk");
  ASSERT_TRUE(srv.wait_for_log("\"cause\":\"idle_timeout\"", 10s));
  EXPECT_FALSE(quiet.read_text());
  lively.send_json({{"action", "ping"}});
  EXPECT_EQ(lively.read_until("pong").back().at("type"), "pong");
}

TEST(Lifecycle, ConfigFileEnvAndFlagsApplyInOrder) {
  char tmpl[] = "/tmp/streamgate-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string dir = tmpl;
  {
    std::ofstream f(dir + "/sg.toml");
    f << "[limits]\nmax_streams_per_connection = 1\n[demo]\nttft_ms = 5000\n";
  }
  setenv("STREAMGATE_DEMO_TTFT_MS", "4000", 1);
  server_process srv({"--config", dir + "/sg.toml"});
  unsetenv("STREAMGATE_DEMO_TTFT_MS");
  ws_client c(srv.port());
  c.send_json(stream_request("one"));
  c.send_json(stream_request("two", "test", "second"));
  // The file's limit of one stream applies; the env's 4 s first token beats the file's 5 s.
  for (;;) {
    auto e = c.read();
    if (e.at("type") == "error") {
      EXPECT_EQ(e.at("code"), "too_many_streams");
      break;
    }
  }
  std::filesystem::remove_all(dir);
}

TEST(Lifecycle, ManagementApiSendsAndDisconnects) {
  server_process srv;
  ws_client c(srv.port());
  auto id = c.connection_id();
  auto post = http_request(srv.port(), http::verb::post, "/@connections/" + id, R"({"hello":"world"})", srv.admin_headers());
  EXPECT_EQ(post.status, 200u);
  EXPECT_EQ(c.read().at("hello"), "world");
  auto del = http_request(srv.port(), http::verb::delete_, "/@connections/" + id, {}, srv.admin_headers());
  EXPECT_EQ(del.status, 204u);
  EXPECT_FALSE(c.read_text());
  EXPECT_EQ(c.close_code(), 1000);
  ASSERT_TRUE(srv.wait_for_log("\"connectionId\":\"" + id + "\",\"transport\":\"websocket\",\"cause\"", 5s));
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/@connections/" + id, {}, srv.admin_headers()).status, 410u);
}

}  // namespace
}  // namespace sg::test

namespace sg::test {
namespace {

TEST(Lifecycle, RepeatedSighupReloadsEachTimeThenSigtermStops) {
  server_process srv;
  for (int i = 1; i <= 3; ++i) {
    srv.signal(SIGHUP);
    // Each reload logs once; wait for the i-th line.
    auto deadline = std::chrono::steady_clock::now() + 5s;
    std::size_t count = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto log = srv.log();
      count = 0;
      for (auto p = log.find("\"msg\":\"reloaded\""); p != std::string::npos; p = log.find("\"msg\":\"reloaded\"", p + 1)) ++count;
      if (count >= static_cast<std::size_t>(i)) break;
      srv.wait_for_log("\"msg\":\"reloaded\"", 100ms);
    }
    EXPECT_EQ(count, static_cast<std::size_t>(i));
  }
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz").status, 200u);
  srv.signal(SIGTERM);
  auto status = srv.wait(10s);
  ASSERT_TRUE(status);
  EXPECT_EQ(*status, 0) << srv.log();
}

}  // namespace
}  // namespace sg::test
