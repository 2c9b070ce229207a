// Authentication, ownership, rate limits, origins and the admin key, against the real binary.
#include "integration/harness.hpp"
#include "support/jwt_signer.hpp"

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>

namespace sg::test {
namespace {

namespace json = boost::json;

const std::string secret = "integration-secret-0123456789-abcdefghijklmnop";

// An admin token carries role=admin, which counts only on servers started with admin_claim().
std::string token_for(const std::string& sub, std::int64_t exp_in = 3600, bool admin = false) {
  auto c = claims_for(sub, exp_in);
  if (admin) c["role"] = "admin";
  return sign_jwt("HS256", c, secret);
}

std::vector<std::string> admin_claim() { return {"--jwt-admin-claim", "role=admin"}; }

std::map<std::string, std::string> bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

std::map<std::string, std::string> upgrade_headers() {
  return {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"},
          {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
}

std::vector<std::string> jwt_args(std::vector<std::string> more = {}) {
  std::vector<std::string> a = {"--auth", "jwt", "--jwt-secret", secret};
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

TEST(Auth, UpgradeWithoutATokenIs401BeforeTheUpgrade) {
  server_process srv(jwt_args());
  auto r = http_request(srv.port(), http::verb::get, "/ws", {}, upgrade_headers());
  EXPECT_EQ(r.status, 401u);
  EXPECT_EQ(r.headers["WWW-Authenticate"], "Bearer");
  EXPECT_EQ(r.json().at("code"), "unauthorized");
  EXPECT_THROW(ws_client(srv.port()), std::runtime_error);
  // Health and the web page stay public.
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz").status, 200u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects").status, 401u);
}

TEST(Auth, EveryWayOfPresentingTheTokenWorks) {
  server_process srv(jwt_args(admin_claim()));
  auto t = token_for("alice");
  ws_client by_header(srv.port(), "/ws", bearer(t));
  ws_client by_subprotocol(srv.port(), "/ws", {{"Sec-WebSocket-Protocol", "bearer, " + t}});
  ws_client by_query(srv.port(), "/ws?token=" + t);
  ws_client by_cookie(srv.port(), "/ws", {{"Cookie", "theme=dark; sg_token=" + t}});
  auto info = http_request(srv.port(), http::verb::get, "/@connections/" + by_query.connection_id(), {},
                           bearer(token_for("ops", 3600, true)))
                  .json();
  EXPECT_EQ(info.at("identity").at("sub"), "alice");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, bearer(t)).status, 200u);
}

TEST(Auth, BadTokensAreRefused) {
  auto rsa = test_key::rsa();
  server_process srv(jwt_args());
  auto refused = [&](const std::string& token) {
    return http_request(srv.port(), http::verb::get, "/v1/projects", {}, bearer(token)).status == 401u;
  };
  EXPECT_TRUE(refused(token_for("a", -3600)));                                          // expired
  auto early = claims_for("a");
  early["nbf"] = unix_now() + 3600;
  EXPECT_TRUE(refused(sign_jwt("HS256", early, secret)));                               // not yet valid
  EXPECT_TRUE(refused(sign_jwt("HS256", claims_for("a"), secret + "-wrong")));          // wrong key
  EXPECT_TRUE(refused(sign_jwt("none", claims_for("a"))));                              // alg none
  EXPECT_TRUE(refused(sign_jwt("RS256", claims_for("a"), {}, &rsa)));                   // another algorithm
  EXPECT_TRUE(refused("garbage"));
  EXPECT_FALSE(refused(token_for("a")));
  auto metrics = http_request(srv.port(), http::verb::get, "/metrics").body;
  EXPECT_NE(metrics.find("streamgate_auth_failures_total 6"), std::string::npos) << metrics;
}

// A query-string token leaks into logs, proxies and browser history; it is only taken where a
// browser cannot send a header: the WebSocket upgrade and an EventSource GET of a stream's events.
TEST(Auth, QueryTokenOnlyOnTheWebSocketUpgradeAndSseEvents) {
  server_process srv(jwt_args(admin_claim()));
  auto t = token_for("alice");
  ws_client c(srv.port(), "/ws?token=" + t);
  c.send_json(stream_request("query token titles"));
  auto start = c.read_until("stream_start");
  auto id = std::string(start.back().at("streamId").as_string());
  c.read_until("stream_complete", 10s, id);

  sse_client events(srv.port(), http::verb::get, "/v1/streams/" + id + "/events?token=" + t);
  EXPECT_EQ(events.status(), 200u);
  auto first = events.next(5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->type, "stream_start");

  // The same valid token in the query of any other API route is not a credential.
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects?token=" + t).status, 401u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/" + id + "?token=" + t).status, 401u);
  EXPECT_EQ(http_request(srv.port(), http::verb::post, "/v1/streams?token=" + t,
                         json::serialize(json::object{{"projectId", "test"}, {"userInput", "x"}}),
                         {{"Accept", "application/json"}})
                .status,
            401u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/models?token=" + t).status, 401u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/@connections/" + c.connection_id() + "?token=" +
                                                          token_for("ops", 3600, true))
                .status,
            401u);
  // A plain GET of /ws (no upgrade) is not the upgrade either.
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/ws?token=" + t).status, 401u);
  // The header still works on those routes.
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, bearer(t)).status, 200u);
}

// No token is admin by a generic claim; only the claim the operator names counts.
TEST(Auth, AdminOnlyThroughTheConfiguredClaim) {
  auto generic = claims_for("ops");
  generic["admin"] = true;
  generic["roles"] = json::array{"admin"};
  auto generic_token = sign_jwt("HS256", generic, secret);
  {
    server_process srv(jwt_args());
    ws_client c(srv.port(), "/ws", bearer(token_for("user")));
    auto path = "/@connections/" + c.connection_id();
    EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, bearer(generic_token)).status, 403u);
    EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, bearer(token_for("ops", 3600, true))).status, 403u);
  }
  {
    server_process srv(jwt_args({"--jwt-admin-claim", "groups=streamgate-ops"}));
    ws_client c(srv.port(), "/ws", bearer(token_for("user")));
    auto path = "/@connections/" + c.connection_id();
    EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, bearer(generic_token)).status, 403u);
    auto named = claims_for("ops");
    named["groups"] = json::array{"staff", "streamgate-ops"};
    EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, bearer(sign_jwt("HS256", named, secret))).status, 200u);
  }
}

TEST(Auth, AudienceIsChecked) {
  server_process srv(jwt_args({"--jwt-audience", "streamgate", "--jwt-issuer", "https://id.example"}));
  auto c = claims_for("a");
  c["aud"] = "other";
  c["iss"] = "https://id.example";
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, bearer(sign_jwt("HS256", c, secret))).status, 401u);
  c["aud"] = "streamgate";
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, bearer(sign_jwt("HS256", c, secret))).status, 200u);
}

TEST(Auth, JwksIsReloadedOnSighup) {
  auto k1 = test_key::ec("P-256"), k2 = test_key::ec("P-256");
  char tmpl[] = "/tmp/streamgate-test-XXXXXX";
  ASSERT_TRUE(mkdtemp(tmpl));
  std::string jwks = std::string(tmpl) + "/jwks.json";
  auto write = [&](const test_key& k) {
    std::ofstream(jwks) << json::serialize(json::object{{"keys", json::array{k.jwk("k")}}});
  };
  write(k1);
  server_process srv({"--auth", "jwt", "--jwt-algorithm", "ES256", "--jwt-jwks", jwks});
  auto t2 = sign_jwt("ES256", claims_for("eve"), {}, &k2, "k");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, bearer(t2)).status, 401u);
  write(k2);
  srv.signal(SIGHUP);
  ASSERT_TRUE(srv.wait_for_log("\"msg\":\"reloaded\"", 5s));
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, bearer(t2)).status, 200u);
  std::filesystem::remove_all(tmpl);
}

class Ownership : public per_store {};

TEST_P(Ownership, AnotherUsersStreamDoesNotExist) {
  server_process srv(with_store(jwt_args({"--demo-ttft-ms", "1000"})));
  ws_client alice(srv.port(), "/ws", bearer(token_for("alice")));
  ws_client bob(srv.port(), "/ws", bearer(token_for("bob")));
  alice.send_json(stream_request("alice's secret plans"));
  auto id = std::string(alice.read().at("streamId").as_string());
  bob.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  EXPECT_EQ(bob.read().at("code"), "not_found");
  bob.send_json({{"action", "cancel"}, {"streamId", id}});
  EXPECT_EQ(bob.read().at("code"), "not_found");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/" + id, {}, bearer(token_for("bob"))).status, 404u);
  EXPECT_EQ(http_request(srv.port(), http::verb::delete_, "/v1/streams/" + id, {}, bearer(token_for("bob"))).status, 404u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/" + id + "/events", {}, bearer(token_for("bob"))).status,
            404u);
  // The owner, on another connection, can.
  ws_client alice2(srv.port(), "/ws", bearer(token_for("alice")));
  alice2.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  EXPECT_EQ(alice2.read().at("type"), "stream_start");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/" + id, {}, bearer(token_for("alice"))).status, 200u);
}

TEST_P(Ownership, AnotherUsersProjectDoesNotExist) {
  server_process srv(with_store(jwt_args()));
  auto a = bearer(token_for("alice")), b = bearer(token_for("bob"));
  auto p = http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"Alice's"})", a).json();
  auto pid = std::string(p.at("id").as_string());
  EXPECT_EQ(http_request(srv.port(), http::verb::post, "/v1/projects/" + pid + "/cards",
                         R"({"kind":"instruction","content":"Use alliteration"})", a)
                .status,
            201u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects/" + pid, {}, b).status, 404u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects/" + pid + "/cards", {}, b).status, 404u);
  EXPECT_EQ(http_request(srv.port(), http::verb::put, "/v1/projects/" + pid, R"({"name":"mine"})", b).status, 404u);
  EXPECT_EQ(http_request(srv.port(), http::verb::delete_, "/v1/projects/" + pid, {}, b).status, 404u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects/" + pid + "/messages", {}, b).status, 404u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, b).json().at("items").as_array().size(), 0u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, a).json().at("items").as_array().size(), 1u);
  ws_client bob(srv.port(), "/ws", b);
  bob.send_json(stream_request("read alice's cards", pid));
  auto events = bob.read_until("error");
  EXPECT_EQ(events.back().at("code"), "not_found");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects/" + pid, {}, a).status, 200u);
}

SG_FOR_EACH_STORE(Ownership);

TEST(RateLimits, ConnectionRatePerIpTripsAndRecovers) {
  server_process srv({"--rate-connections-per-second", "2"});  // burst 4
  int refused = 0;
  for (int i = 0; i < 8; ++i)
    if (http_request(srv.port(), http::verb::get, "/healthz").status == 429u) ++refused;
  EXPECT_GE(refused, 3);
  auto r = http_request(srv.port(), http::verb::get, "/v1/projects");
  if (r.status == 429u) {
    EXPECT_EQ(r.json().at("code"), "rate_limited");
    EXPECT_TRUE(r.json().as_object().contains("retryAfterMs"));
    EXPECT_FALSE(r.headers["Retry-After"].empty());
  }
  // Recovery: within a couple of seconds a new connection is accepted again.
  auto deadline = std::chrono::steady_clock::now() + 5s;
  unsigned status = 429;
  while (status == 429u && std::chrono::steady_clock::now() < deadline)
    status = http_request(srv.port(), http::verb::get, "/healthz").status;
  EXPECT_EQ(status, 200u);
}

// A WebSocket connection, retried until the server has seen an earlier one close and freed its
// place (bounded); null if it never did.
std::unique_ptr<ws_client> connect_once_freed(std::uint16_t port, std::map<std::string, std::string> headers = {}) {
  auto deadline = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < deadline) {
    try {
      return std::make_unique<ws_client>(port, "/ws", headers);
    } catch (const std::exception&) {
    }
  }
  return nullptr;
}

TEST(RateLimits, ConcurrentConnectionsPerIp) {
  server_process srv({"--max-connections-per-ip", "2"});
  auto c1 = std::make_unique<ws_client>(srv.port());
  ws_client c2(srv.port());
  auto r = http_request(srv.port(), http::verb::get, "/ws", {}, upgrade_headers());
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.json().at("code"), "rate_limited");
  c1->close();
  c1.reset();
  EXPECT_TRUE(connect_once_freed(srv.port()));
}

// A WebSocket's one connection slot carries its per-user count beside its per-address one: the
// user's third connection is refused, another user is not, and a closed connection gives its place back.
TEST(RateLimits, ConcurrentConnectionsPerUser) {
  server_process srv(jwt_args({"--max-connections-per-user", "2"}));
  auto c1 = std::make_unique<ws_client>(srv.port(), "/ws", bearer(token_for("erin")));
  ws_client c2(srv.port(), "/ws", bearer(token_for("erin")));
  auto headers = upgrade_headers();
  for (auto& [k, v] : bearer(token_for("erin"))) headers[k] = v;
  auto r = http_request(srv.port(), http::verb::get, "/ws", {}, headers);
  EXPECT_EQ(r.status, 429u);
  EXPECT_EQ(r.json().at("code"), "rate_limited");
  ws_client other(srv.port(), "/ws", bearer(token_for("frank")));
  c1->close();
  c1.reset();
  EXPECT_TRUE(connect_once_freed(srv.port(), bearer(token_for("erin"))));
}

TEST(RateLimits, StreamStartsPerMinute) {
  server_process srv(jwt_args({"--rate-streams-per-minute", "2"}));
  ws_client c(srv.port(), "/ws", bearer(token_for("carol")));
  for (int i = 0; i < 2; ++i) {
    c.send_json(stream_request("s" + std::to_string(i)));
    c.read_until("stream_complete");
  }
  c.send_json(stream_request("third", "test", "r3"));
  auto e = c.read();
  EXPECT_EQ(e.at("code"), "rate_limited");
  EXPECT_EQ(e.at("requestId"), "r3");
  EXPECT_GT(e.at("retryAfterMs").to_number<std::int64_t>(), 20000);
  // Limits are per user: another user is not affected.
  ws_client d(srv.port(), "/ws", bearer(token_for("dave")));
  d.send_json(stream_request("dave's"));
  EXPECT_EQ(d.read().at("type"), "stream_start");
}

TEST(RateLimits, ConcurrentStreamsPerUserRecoverWhenOneEnds) {
  server_process srv({"--max-streams-per-user", "1", "--demo-ttft-ms", "5000"});
  ws_client c(srv.port());
  c.send_json(stream_request("long"));
  auto id = std::string(c.read().at("streamId").as_string());
  c.send_json(stream_request("second"));
  auto events = c.read_until("error");
  EXPECT_EQ(events.back().at("code"), "rate_limited");
  c.send_json({{"action", "cancel"}, {"streamId", id}});
  c.read_until("stream_cancelled", 5s, id);
  c.send_json(stream_request("after"));
  auto ok = c.read_until("stream_start");
  EXPECT_EQ(ok.back().at("type"), "stream_start");
}

// A connection's streams count against the same key as the caller's other connections and HTTP
// requests: its address when anonymous, its token's sub otherwise (another sub has its own).
TEST(RateLimits, ConcurrentStreamsAreCountedPerCallerAcrossConnectionsAndHttp) {
  {
    server_process srv({"--max-streams-per-user", "1", "--demo-ttft-ms", "5000"});
    ws_client first(srv.port());
    first.send_json(stream_request("long"));
    EXPECT_EQ(first.read_until("stream_start").back().at("type"), "stream_start");
    ws_client second(srv.port());
    second.send_json(stream_request("same address"));
    EXPECT_EQ(second.read_until("error").back().at("code"), "rate_limited");
    auto r = http_request(srv.port(), http::verb::post, "/v1/streams",
                          json::serialize(json::object{{"projectId", "test"}, {"userInput", "x"}}),
                          {{"Accept", "application/json"}});
    EXPECT_EQ(r.status, 429u) << r.body;
  }
  {
    server_process srv(jwt_args({"--max-streams-per-user", "1", "--demo-ttft-ms", "5000"}));
    ws_client alice(srv.port(), "/ws?token=" + token_for("alice"));
    alice.send_json(stream_request("long"));
    EXPECT_EQ(alice.read_until("stream_start").back().at("type"), "stream_start");
    ws_client alice_again(srv.port(), "/ws?token=" + token_for("alice"));
    alice_again.send_json(stream_request("same sub"));
    EXPECT_EQ(alice_again.read_until("error").back().at("code"), "rate_limited");
    auto r = http_request(srv.port(), http::verb::post, "/v1/streams",
                          json::serialize(json::object{{"projectId", "test"}, {"userInput", "x"}}),
                          [&] {
                            auto h = bearer(token_for("alice"));
                            h["Accept"] = "application/json";
                            return h;
                          }());
    EXPECT_EQ(r.status, 429u) << r.body;
    ws_client bob(srv.port(), "/ws?token=" + token_for("bob"));
    bob.send_json(stream_request("another sub"));
    EXPECT_EQ(bob.read_until("stream_start").back().at("type"), "stream_start");
  }
}

TEST(RateLimits, UpstreamTokenQuota) {
  server_process srv({"--rate-tokens-per-minute", "100"});
  ws_client c(srv.port());
  c.send_json(stream_request("spend my tokens"));
  auto done = c.read_until("stream_complete");
  EXPECT_GT(done.back().at("usage").at("outputTokens").to_number<int>(), 100);
  c.send_json(stream_request("more"));
  auto e = c.read();
  EXPECT_EQ(e.at("code"), "rate_limited");
  EXPECT_NE(std::string(e.at("message").as_string()).find("token"), std::string::npos);
  auto metrics = http_request(srv.port(), http::verb::get, "/metrics").body;
  EXPECT_NE(metrics.find("streamgate_rate_limited_total{limit=\"tokens\"} 1"), std::string::npos);
}

TEST(Origins, CrossSiteWebSocketIsRefused) {
  server_process srv({"--allowed-origins", "https://app.example"});
  auto h = upgrade_headers();
  h["Origin"] = "https://evil.example";
  auto r = http_request(srv.port(), http::verb::get, "/ws", {}, h);
  EXPECT_EQ(r.status, 403u);
  EXPECT_EQ(r.json().at("code"), "forbidden");
  ws_client allowed(srv.port(), "/ws", {{"Origin", "https://app.example"}});
  ws_client same(srv.port(), "/ws", {{"Origin", "http://127.0.0.1:" + std::to_string(srv.port())}});
  ws_client no_origin(srv.port());
  auto cors = http_request(srv.port(), http::verb::get, "/v1/projects", {}, {{"Origin", "https://app.example"}});
  EXPECT_EQ(cors.headers["Access-Control-Allow-Origin"], "https://app.example");
  auto pre = http_request(srv.port(), http::verb::options, "/v1/streams", {},
                          {{"Origin", "https://app.example"}, {"Access-Control-Request-Method", "POST"}});
  EXPECT_EQ(pre.status, 204u);
  EXPECT_EQ(pre.headers["Access-Control-Allow-Origin"], "https://app.example");
  EXPECT_EQ(http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"x"})", {{"Origin", "https://evil.example"}})
                .status,
            403u);
}

TEST(Management, AdminKeyProtectsConnections) {
  server_process srv({"--admin-key", "k3y-for-admins"});
  ws_client c(srv.port());
  auto path = "/@connections/" + c.connection_id();
  EXPECT_EQ(http_request(srv.port(), http::verb::get, path).status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, {{"X-Admin-Key", "wrong"}}).status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, {{"X-Admin-Key", "k3y-for-admins"}}).status, 200u);
}

TEST(Management, AdminTokenWithAuth) {
  server_process srv(jwt_args(admin_claim()));
  ws_client c(srv.port(), "/ws", bearer(token_for("user")));
  auto path = "/@connections/" + c.connection_id();
  EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, bearer(token_for("user"))).status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::post, path, R"({"n":1})", bearer(token_for("ops", 3600, true))).status,
            200u);
  EXPECT_EQ(c.read().at("n"), 1);
}

}  // namespace
}  // namespace sg::test

namespace sg::test {
namespace {

TEST(Management, AdminEndpointsForTheAdminPage) {
  server_process srv({"--admin-key", "page-key-123"});
  ws_client c(srv.port());
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/admin/metrics").status, 403u);
  auto m = http_request(srv.port(), http::verb::get, "/v1/admin/metrics", {}, {{"X-Admin-Key", "page-key-123"}});
  EXPECT_EQ(m.status, 200u);
  EXPECT_NE(m.body.find("streamgate_connections_active{transport=\"websocket\"} 1"), std::string::npos);
  auto conns = http_request(srv.port(), http::verb::get, "/v1/admin/connections", {}, {{"X-Admin-Key", "page-key-123"}});
  ASSERT_EQ(conns.status, 200u);
  auto items = conns.json().at("items").as_array();
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].at("connectionId"), json::value(c.connection_id()));
}

}  // namespace
}  // namespace sg::test
