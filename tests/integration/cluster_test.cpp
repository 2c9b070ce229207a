// Cluster mode against real processes: three nodes on one Redis of the test's own, sharing one
// SQLite file. Resume, cancel and the management API across nodes; a node killed, drained, and
// Redis restarted under live streams.
#include "integration/free_port.hpp"
#include "integration/harness.hpp"
#include "integration/redis_server.hpp"

#include <gtest/gtest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <random>

namespace sg::test {
namespace {

namespace json = boost::json;

std::string str(const json::value& v) { return std::string(v.as_string()); }
std::uint64_t num(const json::value& v) { return v.to_number<std::uint64_t>(); }

std::string temp_dir() {
  std::string t = (std::filesystem::temp_directory_path() / "sg-cluster-XXXXXX").string();
  if (!::mkdtemp(t.data())) throw std::runtime_error("mkdtemp failed");
  return t;
}

// A cluster of the test's own: Redis, a shared data dir, and nodes started on demand.
class Cluster : public ::testing::Test {
 protected:
  std::vector<std::string> node_args(const std::string& name, std::vector<std::string> more = {}) {
    std::vector<std::string> a = {"--cluster",       "redis://127.0.0.1:" + std::to_string(redis.port()),
                                  "--node-id",       name,
                                  "--node-ttl-ms",   "1500",
                                  "--demo-ttft-ms",  "50",
                                  "--demo-tokens-per-second", "40"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  std::unique_ptr<server_process> start_node(const std::string& name, std::vector<std::string> more = {}) {
    auto n = std::make_unique<server_process>(node_args(name, std::move(more)), data);
    EXPECT_TRUE(n->wait_for_log("\"cluster: redis reachable\"", 10s)) << n->log();
    return n;
  }
  void TearDown() override { std::filesystem::remove_all(data); }

  redis_server redis;
  std::string data = temp_dir();
};

// The lines of a node's log at warn level or above, and the cluster's own notes.
std::string log_lines_at_least_warn(const std::string& log) {
  std::string out;
  std::size_t at = 0;
  while (at < log.size()) {
    auto end = log.find('\n', at);
    if (end == std::string::npos) end = log.size();
    auto line = std::string_view(log).substr(at, end - at);
    if (line.find("\"level\":\"warn") != line.npos || line.find("\"level\":\"error") != line.npos ||
        line.find("\"cluster: ") != line.npos)
      out.append(line).push_back('\n');
    at = end + 1;
  }
  return out;
}

// Asks `c` for a stream answering `input` and reads its first `n` events (stream_start first, so
// the stream's id is the first event's).
std::vector<json::object> start_and_read(ws_client& c, const std::string& input, std::size_t n) {
  c.send_json(stream_request(input, "test", "r1"));
  std::vector<json::object> seen;
  while (seen.size() < n) seen.push_back(c.read(10s));
  return seen;
}

// Checks the events a client saw of one stream, across every connection it used: each seq once,
// gapless from 1, and the chunks' text equal to fullContent. Returns the terminal event's type.
std::string check_exactly_once(const std::vector<json::object>& events, const std::string& id) {
  std::uint64_t expect = 1;
  std::string text, full, end;
  for (auto& e : events) {
    if (!e.contains("streamId") || str(e.at("streamId")) != id || !e.contains("seq")) continue;
    auto first = e.contains("firstSeq") ? num(e.at("firstSeq")) : num(e.at("seq"));
    EXPECT_EQ(first, expect) << json::serialize(e);
    expect = num(e.at("seq")) + 1;
    if (e.at("type") == "stream_chunk") text += str(e.at("content"));
    if (e.at("type") == "stream_complete") full = str(e.at("fullContent"));
    if (e.at("type") == "stream_complete" || e.at("type") == "stream_cancelled" || e.at("type") == "error")
      end = str(e.at("type"));
  }
  if (end == "stream_complete") {
    EXPECT_EQ(text, full);
  }
  return end;
}

TEST_F(Cluster, ResumeOnAnotherNodeReplaysThenContinuesLive) {
  auto a = start_node("node-a");
  auto b = start_node("node-b");
  std::vector<json::object> seen;
  std::string id;
  {
    ws_client c(a->port());
    seen = start_and_read(c, "Resume me on another node", 8);
    id = str(seen[0].at("streamId"));
    c.drop();
  }
  ws_client c(b->port());
  c.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", num(seen.back().at("seq"))}});
  auto rest = c.read_until("stream_complete", 20s, id);
  // The resume reached a running stream: some events arrived live, after the replay.
  seen.insert(seen.end(), rest.begin(), rest.end());
  EXPECT_EQ(check_exactly_once(seen, id), "stream_complete");
  // The stream is visible from both nodes' REST routes.
  std::vector<std::int64_t> created;
  for (auto* n : {a.get(), b.get()}) {
    auto r = http_request(n->port(), http::verb::get, "/v1/streams/" + id);
    EXPECT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(r.json().at("state"), "completed");
    EXPECT_EQ(r.json().at("text").as_string().size(), str(rest.back().at("fullContent")).size());
    created.push_back(r.json().at("createdAt").to_number<std::int64_t>());
  }
  EXPECT_EQ(created[0], created[1]);  // the mirror tells when the stream started, not when it was mirrored
}

TEST_F(Cluster, ThreeHundredDropsEachResumedOnAnotherNodeOverWebSocketAndSse) {
  std::vector<std::unique_ptr<server_process>> nodes;
  for (auto name : {"node-a", "node-b", "node-c"}) nodes.push_back(start_node(name, {"--demo-tokens-per-second", "80"}));
  constexpr int clients = 12, drops_each = 25;  // 300 drops
  std::atomic<int> drops{0}, complete{0};
  std::vector<std::thread> threads;
  std::mutex mu;
  std::vector<std::string> failures;
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&, k] {
      std::mt19937 rng(1000 + k);
      bool sse = k % 2 == 1;
      std::size_t at = k % nodes.size();
      std::vector<json::object> seen;
      std::string id;
      int my_drops = 0;
      try {
        while (my_drops < drops_each) {
          if (id.empty()) {
            ws_client c(nodes[at]->port());
            c.send_json(stream_request("chaos " + std::to_string(k), "test", "c" + std::to_string(k) + "-" + std::to_string(my_drops)));
            seen.push_back(c.read(10s));
            id = str(seen.back().at("streamId"));
            c.drop();
          } else {
            // The next node over, from the last seq this client saw.
            at = (at + 1) % nodes.size();
            std::uint64_t last = 0;
            for (auto& e : seen) last = num(e.at("seq"));
            int take = std::uniform_int_distribution<int>(1, 4)(rng);
            bool ended = false;
            if (sse) {
              sse_client c(nodes[at]->port(), http::verb::get, "/v1/streams/" + id + "/events", {},
                           {{"Last-Event-ID", std::to_string(last)}});
              if (c.status() == 204) ended = true;
              else if (c.status() != 200) throw std::runtime_error("SSE resume answered " + std::to_string(c.status()));
              while (!ended && take-- > 0) {
                auto ev = c.next(10s);
                if (!ev) break;
                seen.push_back(ev->json());
                auto t = str(seen.back().at("type"));
                ended = t == "stream_complete" || t == "error" || t == "stream_cancelled";
              }
              c.drop();
            } else {
              ws_client c(nodes[at]->port());
              c.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", last}});
              while (!ended && take-- > 0) {
                auto e = c.read(10s);
                if (!e.contains("streamId")) continue;
                if (e.contains("seq") && num(e.at("seq")) <= last) {
                  // A resume at the end repeats the terminal event: counted once. Anything else
                  // at or before lastSeq is a duplicate.
                  auto t = str(e.at("type"));
                  if (t != "stream_complete" && t != "error" && t != "stream_cancelled")
                    throw std::runtime_error("after lastSeq " + std::to_string(last) + ": " + json::serialize(e));
                  ended = true;
                  break;
                }
                seen.push_back(e);
                auto t = str(e.at("type"));
                ended = t == "stream_complete" || t == "error" || t == "stream_cancelled";
              }
              c.drop();
            }
            ++my_drops;
            drops.fetch_add(1);
            if (ended) {
              auto end = check_exactly_once(seen, id);
              if (end != "stream_complete") throw std::runtime_error("stream " + id + " ended with " + end);
              complete.fetch_add(1);
              seen.clear();
              id.clear();
            }
          }
        }
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        failures.push_back("client " + std::to_string(k) + ": " + e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_TRUE(failures.empty()) << failures.front();
  EXPECT_EQ(drops.load(), clients * drops_each);
  EXPECT_GT(complete.load(), 0);
}

TEST_F(Cluster, CancelFromAnotherNodeReachesTheGeneratingNode) {
  auto a = start_node("node-a");
  auto b = start_node("node-b");
  ws_client owner(a->port());
  owner.send_json(stream_request("cancel me from elsewhere", "test", "r1"));
  auto start = owner.read(10s);
  auto id = str(start.at("streamId"));
  ws_client other(b->port());
  other.send_json({{"action", "cancel"}, {"streamId", id}});
  auto theirs = other.read_until("stream_cancelled", 10s, id);
  auto mine = owner.read_until("stream_cancelled", 10s, id);
  EXPECT_EQ(str(mine.back().at("type")), "stream_cancelled");
  EXPECT_EQ(num(mine.back().at("seq")), num(theirs.back().at("seq")));
}

TEST_F(Cluster, ManagementApiReachesAConnectionOnAnotherNode) {
  auto a = start_node("node-a");
  auto b = start_node("node-b");
  ws_client c(a->port());
  auto id = c.connection_id();
  ASSERT_FALSE(id.empty());
  // node-a writes the connection to the cluster's table when it opens, one Redis round trip after
  // the connected frame has gone to the client: asked until it is there.
  auto written_by = std::chrono::steady_clock::now() + 5s;
  http_result got;
  do {
    got = http_request(b->port(), http::verb::get, "/@connections/" + id, {}, b->admin_headers());
  } while (got.status == 410u && std::chrono::steady_clock::now() < written_by);
  ASSERT_EQ(got.status, 200u) << got.body;
  EXPECT_EQ(got.json().at("node"), "node-a");
  EXPECT_EQ(str(got.json().at("connectionId")), id);
  auto posted = http_request(b->port(), http::verb::post, "/@connections/" + id, R"({"hello":"from b"})",
                             b->admin_headers());
  EXPECT_EQ(posted.status, 200u) << posted.body;
  EXPECT_EQ(c.read(5s).at("hello"), "from b");
  auto deleted = http_request(b->port(), http::verb::delete_, "/@connections/" + id, {}, b->admin_headers());
  EXPECT_EQ(deleted.status, 204u);
  EXPECT_FALSE(c.read_text(5s).has_value());
  EXPECT_EQ(c.close_code(), 1000);
  // Gone everywhere once closed. node-a takes it out of the cluster's table when its side of the
  // close is done, which may come just after the client saw the close frame: asked again until then.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  unsigned status = 0;
  do {
    status = http_request(b->port(), http::verb::get, "/@connections/" + id, {}, b->admin_headers()).status;
    if (status == 200u) std::this_thread::sleep_for(10ms);  // between polls
  } while (status == 200u && std::chrono::steady_clock::now() < deadline);
  EXPECT_EQ(status, 410u);
}

TEST_F(Cluster, KilledNodesStreamsEndInterruptedWithTheirTextOnAnotherNode) {
  auto a = start_node("node-a", {"--demo-tokens-per-second", "10"});
  auto b = start_node("node-b");
  const std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "killed-node-owner-0123456789"}};
  ws_client c(a->port(), "/ws", me);
  c.send_json(stream_request("a node dies mid answer", "test", "r1"));
  std::vector<json::object> seen;
  int chunks = 0;
  while (chunks < 5) {
    seen.push_back(c.read(10s));
    if (seen.back().at("type") == "stream_chunk") ++chunks;
  }
  auto id = str(seen[0].at("streamId"));
  a->signal(SIGKILL);
  ASSERT_TRUE(a->wait(5s).has_value());
  auto killed_at = std::chrono::steady_clock::now();
  ws_client r(b->port(), "/ws", me);
  r.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  auto events = r.read_until("error", 10s, id);
  auto waited = std::chrono::steady_clock::now() - killed_at;
  EXPECT_LT(waited, 5s);  // the heartbeat's TTL is 1.5 s
  EXPECT_EQ(events.back().at("code"), "interrupted");
  EXPECT_EQ(events.back().at("retryable"), true);
  std::string before, after;
  for (auto& e : seen)
    if (e.at("type") == "stream_chunk") before += str(e.at("content"));
  for (auto& e : events)
    if (e.at("type") == "stream_chunk") after += str(e.at("content"));
  // The text reached is kept: what the shared log had when the node died. A client on the dead node
  // may have seen a little more live (the batch that was on its way to Redis); the two agree.
  ASSERT_FALSE(after.empty());
  if (after.size() >= before.size()) EXPECT_EQ(after.substr(0, before.size()), before);
  else EXPECT_EQ(before.substr(0, after.size()), after);
  EXPECT_EQ(check_exactly_once(events, id), "error");
  // The history row the dead node was writing ends interrupted too, with the text it had.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  json::object answer;
  do {
    auto items = http_request(b->port(), http::verb::get, "/v1/projects/test/messages", {}, me).json().at("items").as_array();
    if (items.size() == 2) answer = items.at(1).as_object();
    if (answer.empty() || answer.at("status") != "interrupted") std::this_thread::sleep_for(20ms);  // between polls
  } while ((answer.empty() || answer.at("status") != "interrupted") && std::chrono::steady_clock::now() < deadline);
  ASSERT_FALSE(answer.empty());
  EXPECT_EQ(answer.at("status"), "interrupted");
  std::string kept(answer.at("content").as_string());
  EXPECT_EQ(after.substr(0, kept.size()), kept);
}

TEST_F(Cluster, SigtermSendsClientsElsewhereAndTheirStreamsFinishThroughRedis) {
  auto a = start_node("node-a", {"--demo-tokens-per-second", "40", "--drain-timeout-ms", "20000"});
  auto b = start_node("node-b");
  ws_client c(a->port());
  auto seen = start_and_read(c, "drain me", 6);
  auto id = str(seen[0].at("streamId"));
  // An SSE reader of the same stream on the draining node: its response ends, so that EventSource
  // reconnects elsewhere.
  sse_client sse(a->port(), http::verb::get, "/v1/streams/" + id + "/events", {}, {{"Last-Event-ID", "1"}});
  ASSERT_EQ(sse.status(), 200u);
  ASSERT_TRUE(sse.next(5s).has_value());
  a->signal(SIGTERM);
  while (auto t = c.read_text(5s)) seen.push_back(json::parse(*t).as_object());
  EXPECT_EQ(c.close_code(), 1012);
  // The response ends without the stream's end in it: the drain ended it, not the stream.
  bool ended = false, saw_complete = false;
  for (int i = 0; i < 1000 && !ended; ++i) {
    auto ev = sse.next(5s);
    if (!ev) ended = true;
    else saw_complete |= ev->type == "stream_complete";
  }
  EXPECT_TRUE(ended);
  EXPECT_FALSE(saw_complete);
  ws_client r(b->port());
  r.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", num(seen.back().at("seq"))}});
  auto rest = r.read_until("stream_complete", 20s, id);
  seen.insert(seen.end(), rest.begin(), rest.end());
  EXPECT_EQ(check_exactly_once(seen, id), "stream_complete");
  EXPECT_EQ(a->wait(20s), 0);
}

TEST_F(Cluster, RedisRestartedMidStreamLocalDeliveryGoesOnAndEverythingRecovers) {
  auto a = start_node("node-a", {"--demo-tokens-per-second", "20"});
  auto b = start_node("node-b");
  ws_client c(a->port());
  auto seen = start_and_read(c, "redis goes away", 5);
  auto id = str(seen[0].at("streamId"));
  redis.stop();
  // Not ready while Redis is away; the local client keeps receiving its stream.
  ASSERT_TRUE(a->wait_for_log("\"cluster: redis unreachable\"", 10s));
  EXPECT_EQ(http_request(a->port(), http::verb::get, "/readyz").status, 503u);
  for (int i = 0; i < 5; ++i) seen.push_back(c.read(10s));
  redis.restart();
  ASSERT_TRUE(wait_metric(a->port(), "streamgate_cluster_redis_up", 1, 15s));
  EXPECT_EQ(http_request(a->port(), http::verb::get, "/readyz").status, 200u);
  // The events written while Redis was away reach it afterwards: a resume from 0 on the other
  // node gets the whole stream, every event once.
  auto local = c.read_until("stream_complete", 30s, id);
  seen.insert(seen.end(), local.begin(), local.end());
  EXPECT_EQ(check_exactly_once(seen, id), "stream_complete");
  ASSERT_TRUE(wait_metric(b->port(), "streamgate_cluster_redis_up", 1, 15s));
  ws_client r(b->port());
  r.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  auto replay = r.read_until("stream_complete", 20s, id);
  EXPECT_EQ(check_exactly_once(replay, id), "stream_complete");
}


// A lookup never says "no such stream" because Redis did not answer: while Redis is away a resume on
// another node waits for it (for --node-ttl-ms + 1 s), and past that wait the answer is
// `unavailable`, retryable, over WebSocket and REST alike; once Redis is back the same resume works.
TEST_F(Cluster, ResumeWhileRedisIsAwayWaitsForItOrAnswersUnavailableNeverNotFound) {
  auto a = start_node("node-a", {"--demo-tokens-per-second", "20"});
  auto b = start_node("node-b", {"--node-ttl-ms", "5000"});
  ws_client c(a->port());
  auto seen = start_and_read(c, "resume while redis is away", 3);
  auto id = str(seen[0].at("streamId"));
  redis.stop();
  ASSERT_TRUE(b->wait_for_log("\"cluster: redis unreachable\"", 10s));
  ws_client r(b->port());
  auto asked = std::chrono::steady_clock::now();
  r.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}, {"requestId", "q1"}});
  auto e = r.read(20s);
  auto waited = std::chrono::steady_clock::now() - asked;
  EXPECT_EQ(e.at("type"), "error") << json::serialize(e);
  EXPECT_EQ(e.at("code"), "unavailable") << json::serialize(e);
  EXPECT_EQ(e.at("retryable"), true);
  EXPECT_EQ(str(e.at("streamId")), id);
  EXPECT_EQ(str(e.at("requestId")), "q1");
  EXPECT_GE(waited, 5s);  // it waited for Redis before giving up
  auto rest = http_request(b->port(), http::verb::get, "/v1/streams/" + id);
  EXPECT_EQ(rest.status, 503u) << rest.body;
  EXPECT_EQ(rest.json().at("code"), "unavailable") << rest.body;
  // Redis comes back while the next resume waits: it gets the whole stream, every event once.
  redis.restart();
  r.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}, {"requestId", "q2"}});
  auto replay = r.read_until("stream_complete", 30s, id);
  EXPECT_EQ(check_exactly_once(replay, id), "stream_complete");
  for (auto& ev : replay) EXPECT_NE(ev.at("type"), "error") << json::serialize(ev);
}

// A node that stalls past its heartbeat's TTL (here SIGSTOP) is taken for dead: another node ends
// its running streams `interrupted` in the shared log. When it runs again it learns so at its next
// heartbeat and ends them the same way for its own clients, rather than finish an answer the
// cluster has recorded as interrupted; its new streams run as before.
TEST_F(Cluster, ANodeTakenForDeadEndsItsStreamsAsTheOthersWereTold) {
  auto a = start_node("node-a", {"--demo-tokens-per-second", "10"});
  auto b = start_node("node-b");
  ws_client c(a->port());
  auto seen = start_and_read(c, "a node that stalls", 4);
  auto id = str(seen[0].at("streamId"));
  a->signal(SIGSTOP);
  bool reaped = b->wait_for_log("\"cluster: node gone, ending its streams\"", 15s);
  a->signal(SIGCONT);
  ASSERT_TRUE(reaped) << b->log();
  // Reads until `type`; a timeout fails the test with both nodes' logs, where its cause is.
  auto read_until = [&](ws_client& w, const char* who, const std::string& type, std::chrono::milliseconds t,
                        const std::string& sid) {
    try {
      return w.read_until(type, t, sid);
    } catch (const std::exception& e) {
      ADD_FAILURE() << who << ": " << e.what() << "\nnode-a:\n" << a->log() << "\nnode-b:\n" << b->log();
      return std::vector<json::object>{};
    }
  };
  // Its own client: the stream ends `interrupted`, not `stream_complete`.
  auto rest = read_until(c, "own client", "error", 15s, id);
  ASSERT_FALSE(rest.empty());
  for (auto& e : rest) EXPECT_NE(e.at("type"), "stream_complete") << json::serialize(e);
  EXPECT_EQ(rest.back().at("code"), "interrupted") << json::serialize(rest.back());
  EXPECT_EQ(rest.back().at("retryable"), true);
  EXPECT_TRUE(a->wait_for_log("\"cluster: this node was taken for dead; its streams end as the others were told\"", 10s))
      << a->log();
  // The cluster's record agrees: a resume on the other node ends the same way.
  ws_client r(b->port());
  r.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  auto replay = read_until(r, "resume on node-b", "error", 15s, id);
  ASSERT_FALSE(replay.empty());
  EXPECT_EQ(replay.back().at("code"), "interrupted");
  for (auto& e : replay) EXPECT_NE(e.at("type"), "stream_complete");
  // The node itself goes on: a new stream on it streams.
  c.send_json(stream_request("after the stall", "test", "r2"));
  auto next = read_until(c, "new stream", "stream_chunk", 20s, {});
  ASSERT_FALSE(next.empty());
  EXPECT_EQ(next.front().at("type"), "stream_start");
  EXPECT_NE(str(next.front().at("streamId")), id);
}

TEST_F(Cluster, ConcurrencyAndStartRateAreSharedByTwoNodes) {
  // Two concurrent streams per user and four starts a minute, across both nodes together.
  std::vector<std::string> lim = {"--max-streams-per-user", "2", "--rate-streams-per-minute", "4",
                                  "--demo-tokens-per-second", "10"};
  auto a = start_node("node-a", lim);
  auto b = start_node("node-b", lim);
  const std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "cluster-limits-owner-0123456789"}};
  ws_client ca(a->port(), "/ws", me), cb(b->port(), "/ws", me);
  ca.send_json(stream_request("one", "test", "l1"));
  auto first = ca.read(10s);
  ASSERT_EQ(first.at("type"), "stream_start") << json::serialize(first);
  cb.send_json(stream_request("two", "test", "l2"));
  ASSERT_EQ(cb.read(10s).at("type"), "stream_start");
  // The third, on either node, is over the shared concurrency limit.
  for (auto* c : {&ca, &cb}) {
    c->send_json(stream_request("three", "test", "l3"));
    json::object e;
    do e = c->read(10s);
    while (e.at("type") != "error");
    EXPECT_EQ(e.at("code"), "rate_limited") << json::serialize(e);
    EXPECT_NE(str(e.at("message")).find("concurrent"), std::string::npos) << json::serialize(e);
  }
  // A cancel frees a slot for the other node; the starts-per-minute budget (4) then runs out.
  ca.send_json({{"action", "cancel"}, {"streamId", first.at("streamId")}});
  ca.read_until("stream_cancelled", 10s, str(first.at("streamId")));
  bool started = false;
  for (int i = 0; i < 50 && !started; ++i) {  // the slot is freed when the end is recorded
    cb.send_json(stream_request("four", "test", "l4-" + std::to_string(i)));
    json::object e;
    do e = cb.read(10s);
    while (e.at("type") != "error" && e.at("type") != "stream_start");
    started = e.at("type") == "stream_start";
    if (!started) {
      EXPECT_NE(str(e.at("message")).find("concurrent"), std::string::npos) << json::serialize(e);
    }
  }
  EXPECT_TRUE(started);
  // Three starts so far, one left: a fifth start is refused by the rate, not the concurrency, once a
  // slot is free again.
  EXPECT_GE(metric_value(a->port(), "streamgate_streams_total{outcome=\"started\"}") +
                metric_value(b->port(), "streamgate_streams_total{outcome=\"started\"}"),
            3);
}

TEST_F(Cluster, RetriedRequestIdOnAnotherNodeGetsTheSameStream) {
  auto a = start_node("node-a");
  auto b = start_node("node-b");
  const std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "cluster-retry-owner-0123456789"}};
  std::string id;
  {
    ws_client c(a->port(), "/ws", me);
    c.send_json(stream_request("retry me elsewhere", "test", "same-request"));
    id = str(c.read(10s).at("streamId"));
  }
  ws_client c(b->port(), "/ws", me);
  c.send_json(stream_request("retry me elsewhere", "test", "same-request"));
  auto events = c.read_until("stream_complete", 20s, id);
  EXPECT_EQ(check_exactly_once(events, id), "stream_complete");
  EXPECT_EQ(metric_value(b->port(), "streamgate_streams_total{outcome=\"started\"}"), 0);
}


// A completion cannot be resumed: it is not written to the shared log, unless it carries
// X-Request-Id (a retry on another node then gets its stream), and then without progress events.
// Native streams are written whole.
TEST_F(Cluster, ACompletionIsWrittenToTheSharedLogOnlyWithARequestId) {
  auto a = start_node("node-a", {"--demo-tokens-per-second", "1000"});
  const std::string body = R"({"model":"demo","messages":[{"role":"user","content":"not shared"}]})";
  const std::map<std::string, std::string> json_type{{"Content-Type", "application/json"}};
  for (int i = 0; i < 3; ++i) {
    auto r = http_request(a->port(), http::verb::post, "/v1/chat/completions", body, json_type);
    ASSERT_EQ(r.status, 200u) << r.body;
  }
  // A native stream after them: once its events are counted as written, so would theirs have been
  // (one node's log is written in order).
  ws_client c(a->port());
  auto seen = start_and_read(c, "shared", 1);
  auto id = str(seen.front().at("streamId"));
  auto events = c.read_until("stream_complete", 20s, id);
  auto last = num(events.back().at("seq"));
  auto logged = [&] { return metric_value(a->port(), "streamgate_cluster_log_events_total"); };
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (logged() < static_cast<double>(last) && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_EQ(logged(), static_cast<double>(last));
  // With a request id the completion is written: its start, its chunks and its end, one event for
  // each chunk of the answer (the role's, the text's, the finish's), and no progress events, which
  // no reader of a completion sees.
  auto with_id = json_type;
  with_id["X-Request-Id"] = "shared-completion-1";
  auto r = http_request(a->port(), http::verb::post, "/v1/chat/completions",
                        R"({"model":"demo","stream":true,"messages":[{"role":"user","content":"shared"}]})", with_id);
  ASSERT_EQ(r.status, 200u) << r.body;
  std::size_t chunks = 0;
  for (std::size_t at = 0; (at = r.body.find("data: {", at)) != std::string::npos; ++at) ++chunks;
  ASSERT_GE(chunks, 3u) << r.body;
  const double expected = static_cast<double>(last) + static_cast<double>(chunks);
  deadline = std::chrono::steady_clock::now() + 10s;
  while (logged() < expected && std::chrono::steady_clock::now() < deadline) {
  }
  EXPECT_EQ(logged(), expected) << r.body;
}

TEST_F(Cluster, RollingRestartOfEveryNodeUnder500LiveStreamsLosesAndRepeatsNothing) {
  // Three nodes on one port (--reuse-port), as on one machine behind nothing: a client that
  // reconnects reaches whichever node still listens.
  auto port = std::to_string(free_port());
  // The default heartbeat TTL (5 s): three sanitized nodes on two cores can miss a 1.5 s one
  // under this load, and a node taken for dead has its streams ended `interrupted`.
  std::vector<std::string> shared = {"--listen", "127.0.0.1:" + port, "--reuse-port", "--demo-tokens-per-second",
                                     "40", "--drain-timeout-ms", "30000", "--node-ttl-ms", "5000"};
  std::vector<std::unique_ptr<server_process>> nodes;
  for (auto name : {"node-a", "node-b", "node-c"}) nodes.push_back(start_node(name, shared));
  auto p = static_cast<std::uint16_t>(std::stoi(port));
#if defined(__SANITIZE_ADDRESS__)
  constexpr int clients = 100;  // three sanitized nodes on two cores: the load, not the sanitizer, would be tested
#else
  constexpr int clients = 500;
#endif
  std::atomic<bool> restarts_done{false};
  std::atomic<int> restarting{0};  // which node is restarting (1-3), 4 once all were
  std::atomic<int> completed{0}, resumed{0}, retried{0};
  std::mutex mu;
  std::condition_variable all_streaming;  // the restarts begin once every client has a stream
  int streaming = 0;
  std::vector<std::string> failures;
  std::vector<std::thread> threads;
  for (int k = 0; k < clients; ++k) {
    threads.emplace_back([&, k] {
      std::string id;
      std::vector<json::object> seen;
      std::uint64_t last = 0;
      int streams = 0;
      auto deadline = std::chrono::steady_clock::now() + 100s;
      try {
        while (std::chrono::steady_clock::now() < deadline) {
          if (id.empty() && (restarts_done || streams >= 20)) break;
          std::unique_ptr<ws_client> c;
          try {
            c = std::make_unique<ws_client>(p);
          } catch (const std::exception&) {
            continue;  // every listener was between processes: try again
          }
          if (id.empty()) {
            c->send_json(stream_request("rolling " + std::to_string(k), "test"));
          } else {
            c->send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", last}});
            resumed.fetch_add(1);
          }
          while (true) {
            auto text = c->read_text(15s);
            if (!text) {
              if (c->close_code() != 1012)
                throw std::runtime_error("closed with " + std::to_string(c->close_code()) + " during restart " +
                                         std::to_string(restarting.load()) + " (stream " + id + ", after seq " +
                                         std::to_string(last) + ")");
              break;  // the node restarts: resume on another
            }
            auto e = json::parse(*text).as_object();
            if (!e.contains("streamId")) continue;
            if (e.at("type") == "stream_start" && id.empty()) {
              id = str(e.at("streamId"));
              if (streams == 0) {
                std::lock_guard lock(mu);
                if (++streaming == clients) all_streaming.notify_all();
              }
            }
            if (str(e.at("streamId")) != id) continue;
            if (!e.contains("seq")) {
              // A resume the node could not answer yet (Redis slow or away, the shared log behind
              // what this client read): retryable, and retried, as a client does.
              if (e.at("type") == "error" && e.at("code") == "unavailable" && e.at("retryable") == true) {
                retried.fetch_add(1);
                break;
              }
              throw std::runtime_error("error: " + *text);
            }
            auto t = str(e.at("type"));
            bool terminal = t == "stream_complete" || t == "error" || t == "stream_cancelled";
            if (num(e.at("seq")) <= last) {
              if (!terminal) throw std::runtime_error("duplicate after " + std::to_string(last) + ": " + *text);
            } else {
              seen.push_back(e);
              last = num(e.at("seq"));
            }
            if (terminal) {
              auto end = check_exactly_once(seen, id);
              if (end != "stream_complete") throw std::runtime_error("stream " + id + " ended with " + end);
              completed.fetch_add(1);
              ++streams;
              id.clear();
              seen.clear();
              last = 0;
              break;
            }
          }
        }
        if (!id.empty()) throw std::runtime_error("stream " + id + " unfinished at the deadline");
      } catch (const std::exception& e) {
        std::lock_guard lock(mu);
        failures.push_back("client " + std::to_string(k) + ": " + e.what());
      }
    });
  }
  {
    std::unique_lock lock(mu);
    all_streaming.wait_for(lock, 60s, [&] { return streaming == clients; });
  }
  std::vector<std::unique_ptr<server_process>> retired;  // kept for their logs
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto name = std::string("node-") + char('a' + i);
    restarting = static_cast<int>(i) + 1;
    nodes[i]->signal(SIGTERM);
    ASSERT_EQ(nodes[i]->wait(40s), 0) << nodes[i]->log();
    retired.push_back(std::move(nodes[i]));
    nodes[i] = start_node(name, shared);
  }
  restarts_done = true;
  restarting = 4;
  for (auto& t : threads) t.join();
  // The nodes that served the end of the run stop cleanly too (a crash would have cut clients off).
  for (auto& n : nodes) {
    n->signal(SIGTERM);
    EXPECT_EQ(n->wait(40s), 0) << n->log();
  }
  std::string report;
  for (auto& f : failures) report += "\n  " + f;
  if (!failures.empty()) {
    // What the nodes said that was not routine: a failure's cause is usually there.
    for (auto* list : {&retired, &nodes})
      for (auto& n : *list) report += "\n" + log_lines_at_least_warn(n->log());
  }
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures (" << retried.load()
                                << " resumes answered `unavailable` and retried):" << report;
  EXPECT_GE(completed.load(), clients);
  EXPECT_GT(resumed.load(), clients / 4);  // many clients were sent elsewhere at least once
}

// On one machine the nodes share one SQLite file (WAL, a busy timeout, migrations under BEGIN
// IMMEDIATE): three processes writing projects and answers at once lose nothing and refuse nothing.
TEST_F(Cluster, ThreeProcessesWritingOneSqliteFileLoseNothing) {
  std::vector<std::unique_ptr<server_process>> nodes;
  for (auto name : {"node-a", "node-b", "node-c"})
    nodes.push_back(start_node(name, {"--demo-ttft-ms", "5", "--demo-tokens-per-second", "2000"}));
  const std::map<std::string, std::string> me{{"X-Streamgate-Anonymous-Key", "shared-sqlite-owner-0123456789"}};
  constexpr int threads_per_node = 4, each = 10;
  std::mutex mu;
  std::vector<std::string> failures, projects;
  std::vector<std::thread> threads;
  for (auto& n : nodes)
    for (int t = 0; t < threads_per_node; ++t)
      threads.emplace_back([&, port = n->port(), t] {
        try {
          ws_client c(port, "/ws", me);
          for (int i = 0; i < each; ++i) {
            auto made = http_request(port, http::verb::post, "/v1/projects",
                                     R"({"name":"p)" + std::to_string(t) + "-" + std::to_string(i) + "\"}", me);
            if (made.status != 201) throw std::runtime_error("POST /v1/projects: " + std::to_string(made.status) + " " + made.body);
            auto pid = str(made.json().at("id"));
            c.send_json(stream_request("shared file " + std::to_string(i), pid));
            auto events = c.read_until("stream_complete", 20s);
            std::lock_guard lock(mu);
            projects.push_back(pid);
          }
        } catch (const std::exception& e) {
          std::lock_guard lock(mu);
          failures.push_back(e.what());
        }
      });
  for (auto& t : threads) t.join();
  ASSERT_TRUE(failures.empty()) << failures.size() << " failures, the first: " << failures.front();
  ASSERT_EQ(projects.size(), std::size_t(3 * threads_per_node * each));
  // Every node sees every project, each with its question and its finished answer.
  for (auto& n : nodes) {
    auto list = http_request(n->port(), http::verb::get, "/v1/projects?limit=200", {}, me).json();
    EXPECT_EQ(list.at("items").as_array().size(), projects.size());
  }
  for (std::size_t i = 0; i < projects.size(); i += 7) {
    auto items = http_request(nodes[i % 3]->port(), http::verb::get, "/v1/projects/" + projects[i] + "/messages", {}, me)
                     .json().at("items").as_array();
    ASSERT_EQ(items.size(), 2u) << projects[i];
    EXPECT_EQ(items.at(1).at("status"), "complete");
  }
}

TEST_F(Cluster, ConnectionLimitsAreSharedByTwoNodes) {
  std::vector<std::string> lim = {"--max-connections-per-ip", "3"};
  auto a = start_node("node-a", lim);
  auto b = start_node("node-b", lim);
  auto one = std::make_unique<ws_client>(a->port());
  ws_client two(a->port()), three(b->port());
  // The fourth connection from this address, on either node, is over the cluster's limit of three.
  for (auto* n : {a.get(), b.get()}) {
    auto refused = raw_upgrade(n->port(), "/ws", {});
    EXPECT_EQ(refused.status, 429u) << refused.body;
    EXPECT_NE(refused.body.find("too many connections from this address"), std::string::npos) << refused.body;
  }
  // A closed connection frees its place for the other node.
  one->close();
  one.reset();
  bool admitted = false;
  for (int i = 0; i < 100 && !admitted; ++i) {
    admitted = raw_upgrade(b->port(), "/ws", {}).status == 101;
    if (!admitted) std::this_thread::sleep_for(20ms);  // between polls: the close is recorded asynchronously
  }
  EXPECT_TRUE(admitted);
}

}  // namespace
}  // namespace sg::test
