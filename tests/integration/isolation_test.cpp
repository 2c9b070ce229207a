// Isolation between users and at the network edge, against the real binary: anonymous identities,
// the management API's key, the Host allow-list and the client address behind trusted proxies.
#include "integration/harness.hpp"

#include <gtest/gtest.h>

namespace sg::test {
namespace {

namespace json = boost::json;
using headers = std::map<std::string, std::string>;

headers upgrade_headers(headers more = {}) {
  headers h = {{"Connection", "Upgrade"}, {"Upgrade", "websocket"}, {"Sec-WebSocket-Version", "13"},
               {"Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="}};
  h.insert(more.begin(), more.end());
  return h;
}

// "sg_anon=<key>" from a Set-Cookie answer.
std::string cookie_of(const http_result& r) {
  auto it = r.headers.find("Set-Cookie");
  if (it == r.headers.end()) return {};
  return it->second.substr(0, it->second.find(';'));
}

// A browser's first visit: the page, whose answer gives it its identity.
std::string first_visit(std::uint16_t port) {
  auto page = http_request(port, http::verb::get, "/", {}, {{"Accept", "text/html"}});
  auto c = cookie_of(page);
  EXPECT_EQ(c.rfind("sg_anon=", 0), 0u) << "no anonymous cookie on the first answer";
  return c;
}

headers cookie(const std::string& c, headers more = {}) {
  more["Cookie"] = c;
  return more;
}

bool has(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

std::string chat_body(const std::string& prompt, bool stream = false) {
  json::object o{{"model", "demo"},
                 {"stream", stream},
                 {"messages", json::array{json::object{{"role", "user"}, {"content", prompt}}}}};
  return json::serialize(o);
}

// Every place a prompt could leak from, read as `who`; returns all the bodies.
std::string everything_visible(std::uint16_t port, const headers& who, const std::string& project_id) {
  std::string all;
  std::vector<std::string> paths = {"/v1/projects", "/v1/projects/shared/messages", "/v1/projects/openai/messages",
                                    "/v1/projects/test/messages", "/v1/projects/" + project_id,
                                    "/v1/projects/" + project_id + "/messages", "/v1/projects/" + project_id + "/cards"};
  for (auto& path : paths) all += http_request(port, http::verb::get, path, {}, who).body;
  return all;
}

// ---- item 4: anonymous identities ------------------------------------------------------------

class AnonymousIdentity : public per_store {};

TEST_P(AnonymousIdentity, CookieIsGivenOnFirstContactOnEveryTransport) {
  server_process srv(with_store());
  auto first = http_request(srv.port(), http::verb::get, "/healthz");
  auto sc = first.headers["Set-Cookie"];
  EXPECT_TRUE(has(sc, "sg_anon=")) << sc;
  EXPECT_TRUE(has(sc, "; HttpOnly"));
  EXPECT_TRUE(has(sc, "; SameSite=Lax"));
  EXPECT_TRUE(has(sc, "; Path=/"));
  EXPECT_FALSE(has(sc, "Secure"));  // plain HTTP
  auto key = cookie_of(first).substr(8);
  EXPECT_GE(key.size(), 22u);  // at least 128 bits
  // A client that keeps it is not given another.
  auto again = http_request(srv.port(), http::verb::get, "/v1/projects", {}, cookie(cookie_of(first)));
  EXPECT_EQ(again.status, 200u);
  EXPECT_EQ(again.headers.count("Set-Cookie"), 0u);
  // The WebSocket upgrade and an SSE answer carry it too, when the request had none.
  auto up = http_request(srv.port(), http::verb::get, "/ws", {}, upgrade_headers());
  EXPECT_EQ(up.status, 101u);
  EXPECT_TRUE(has(up.headers["Set-Cookie"], "sg_anon="));
  sse_client sse(srv.port(), http::verb::post, "/v1/streams", R"({"projectId":"p","userInput":"hi"})");
  EXPECT_EQ(sse.status(), 200u);
  EXPECT_TRUE(has(sse.headers().count("Set-Cookie") ? sse.headers().at("Set-Cookie") : "", "sg_anon="));
  // A program's key header needs no cookie; a malformed key is refused, not silently replaced.
  auto prog = http_request(srv.port(), http::verb::get, "/v1/projects", {},
                           {{"X-Streamgate-Anonymous-Key", "program-key-0123456789abcdef"}});
  EXPECT_EQ(prog.status, 200u);
  EXPECT_EQ(prog.headers.count("Set-Cookie"), 0u);
  for (auto bad : {"short", "has spaces in it 0123456789", "semi;colon-0123456789abcdef"}) {
    auto r = http_request(srv.port(), http::verb::get, "/v1/projects", {}, {{"X-Streamgate-Anonymous-Key", bad}});
    EXPECT_EQ(r.status, 400u) << bad;
    EXPECT_EQ(r.json().at("field"), "X-Streamgate-Anonymous-Key");
  }
  // A forged cookie value is not an identity: it is replaced by a fresh one.
  auto forged = http_request(srv.port(), http::verb::get, "/v1/projects", {}, {{"Cookie", "sg_anon=x"}});
  EXPECT_TRUE(has(forged.headers["Set-Cookie"], "sg_anon="));
}

TEST_P(AnonymousIdentity, APromptIsReadableByItsAuthorOnlyThroughEveryEndpoint) {
  server_process srv(with_store());
  auto alice = first_visit(srv.port());
  auto bob = first_visit(srv.port());
  ASSERT_NE(alice, bob);

  // Alice writes over every transport: WebSocket, SSE, REST, and /v1/chat/completions (recorded on
  // request, and not recorded).
  std::string ws_stream;
  {
    ws_client ws(srv.port(), "/ws", cookie(alice));
    ws.send_json(stream_request("alice-ws-secret", "shared", "req-1"));
    auto events = ws.read_until("stream_complete");
    ws_stream = std::string(events.front().at("streamId").as_string());
  }
  {
    sse_client sse(srv.port(), http::verb::post, "/v1/streams",
                   R"({"projectId":"shared","userInput":"alice-sse-secret"})", cookie(alice));
    ASSERT_EQ(sse.status(), 200u);
    while (auto ev = sse.next(10s))
      if (ev->type == "stream_complete") break;
  }
  auto project = http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"alice-project-secret"})",
                              cookie(alice));
  ASSERT_EQ(project.status, 201u);
  auto pid = std::string(project.json().at("id").as_string());
  ASSERT_EQ(http_request(srv.port(), http::verb::post, "/v1/projects/" + pid + "/cards",
                         R"({"kind":"instruction","content":"alice-card-secret"})", cookie(alice))
                .status,
            201u);
  auto recorded = http_request(srv.port(), http::verb::post, "/v1/chat/completions", chat_body("alice-openai-secret"),
                               cookie(alice, {{"X-Streamgate-Project", "shared"}}));
  ASSERT_EQ(recorded.status, 200u);
  auto unrecorded = http_request(srv.port(), http::verb::post, "/v1/chat/completions",
                                 chat_body("alice-unrecorded-secret"), cookie(alice));
  ASSERT_EQ(unrecorded.status, 200u);

  // Bob, a program without cookies and a program with its own key see none of it, anywhere.
  for (auto& who : {cookie(bob), headers{}, headers{{"X-Streamgate-Anonymous-Key", "another-program-key-0123456789"}}}) {
    auto seen = everything_visible(srv.port(), who, pid);
    EXPECT_FALSE(has(seen, "alice")) << seen;
    EXPECT_FALSE(has(seen, ws_stream)) << "a stream id was shown to someone else: " << seen;
    EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects/" + pid, {}, who).status, 404u);
  }
  // Bob's own completion, on the same ad-hoc project name, does not draw on Alice's history.
  auto bobs = http_request(srv.port(), http::verb::post, "/v1/chat/completions", chat_body("bob asks", false),
                           cookie(bob, {{"X-Streamgate-Project", "shared"}}));
  EXPECT_FALSE(has(bobs.body, "alice"));
  // Bob reusing Alice's requestId gets his own stream, not hers.
  {
    ws_client ws(srv.port(), "/ws", cookie(bob));
    ws.send_json(stream_request("bob-ws", "shared", "req-1"));
    auto start = ws.read_until("stream_start");
    EXPECT_NE(std::string(start.back().at("streamId").as_string()), ws_stream);
  }

  // Alice, reconnecting with her cookie, sees all of hers (and only the completion she asked to record).
  auto history = http_request(srv.port(), http::verb::get, "/v1/projects/shared/messages", {}, cookie(alice)).body;
  EXPECT_TRUE(has(history, "alice-ws-secret")) << history;
  EXPECT_TRUE(has(history, "alice-sse-secret"));
  EXPECT_TRUE(has(history, "alice-openai-secret"));
  EXPECT_FALSE(has(history, "alice-unrecorded-secret"));
  EXPECT_FALSE(has(history, "bob"));
  EXPECT_TRUE(has(history, ws_stream));
  EXPECT_FALSE(has(http_request(srv.port(), http::verb::get, "/v1/projects/openai/messages", {}, cookie(alice)).body,
                   "alice-unrecorded-secret"));
  EXPECT_TRUE(has(http_request(srv.port(), http::verb::get, "/v1/projects", {}, cookie(alice)).body, "alice-project-secret"));
  EXPECT_TRUE(has(http_request(srv.port(), http::verb::get, "/v1/projects/" + pid + "/cards", {}, cookie(alice)).body,
                  "alice-card-secret"));
  // Her retry of req-1 from a new connection is her first stream again, not a second answer.
  ws_client again(srv.port(), "/ws", cookie(alice));
  again.send_json(stream_request("alice-ws-secret", "shared", "req-1"));
  auto start = again.read_until("stream_start");
  EXPECT_EQ(std::string(start.back().at("streamId").as_string()), ws_stream);
}

TEST_P(AnonymousIdentity, AProgramWithoutCookiesIsANewIdentityPerRequestButItsStreamIdResumes) {
  server_process srv(with_store({"--demo-ttft-ms", "300"}));
  // Without a cookie or key, each request is somebody new: what it creates is nobody else's to read.
  auto p = http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"mine"})");
  ASSERT_EQ(p.status, 201u);
  auto pid = std::string(p.json().at("id").as_string());
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects/" + pid).status, 404u);
  // With a key, a program is one identity across connections.
  headers key{{"X-Streamgate-Anonymous-Key", "my-program-key-0123456789abcdef"}};
  auto kp = http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"kept"})", key);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects/" + std::string(kp.json().at("id").as_string()), {}, key)
                .status,
            200u);

  // The stream id is the capability: a new connection with no identity in common resumes it.
  auto started = http_request(srv.port(), http::verb::post, "/v1/streams",
                              R"({"projectId":"test","userInput":"resumable-secret"})", {{"Accept", "application/json"}});
  ASSERT_EQ(started.status, 202u);
  auto id = std::string(started.json().at("streamId").as_string());
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/streams/" + id).status, 200u);
  sse_client sse(srv.port(), http::verb::get, "/v1/streams/" + id + "/events");
  ASSERT_EQ(sse.status(), 200u);
  std::string last_type;
  while (auto ev = sse.next(10s)) last_type = ev->type;
  EXPECT_EQ(last_type, "stream_complete");
  ws_client ws(srv.port());
  ws.send_json({{"action", "resume"}, {"streamId", id}, {"lastSeq", 0}});
  auto events = ws.read_until("stream_complete", 10s, id);
  EXPECT_EQ(events.front().at("type"), "stream_start");
  // But nobody else finds the id: the history that holds it is its owner's, who was a one-off.
  EXPECT_FALSE(has(http_request(srv.port(), http::verb::get, "/v1/projects/test/messages").body, id));
}

SG_FOR_EACH_STORE(AnonymousIdentity);

// ---- item 5: the management API always needs the key ----------------------------------------

TEST(Management, LoopbackWithoutTheKeyIsRefusedAndTheGeneratedKeyIsLogged) {
  server_process srv;
  ASSERT_GE(srv.admin_key().size(), 22u) << srv.log();
  EXPECT_TRUE(has(srv.log(), "\"adminUrl\":\"http://127.0.0.1:" + std::to_string(srv.port()) + "/admin#key=" +
                                 srv.admin_key() + "\""))
      << srv.log();
  ws_client c(srv.port());
  auto path = "/@connections/" + c.connection_id();
  EXPECT_EQ(http_request(srv.port(), http::verb::get, path).status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::post, path, "{}").status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::delete_, path).status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/admin/connections").status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/admin/metrics").status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, {{"X-Admin-Key", "wrong"}}).status, 403u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, path, {}, srv.admin_headers()).status, 200u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/admin/connections", {}, srv.admin_headers()).status, 200u);
}

TEST(Management, AConfiguredKeyIsNeverLogged) {
  server_process srv({"--admin-key", "configured-admin-key-42"});
  EXPECT_TRUE(srv.admin_key().empty());
  EXPECT_FALSE(has(srv.log(), "configured-admin-key-42"));
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/admin/metrics").status, 403u);
  EXPECT_EQ(
      http_request(srv.port(), http::verb::get, "/v1/admin/metrics", {}, {{"X-Admin-Key", "configured-admin-key-42"}}).status,
      200u);
}

// ---- item 6: the Host header -----------------------------------------------------------------

TEST(AllowedHosts, AnotherHostIsRefusedWith421EvenWithAMatchingOrigin) {
  server_process srv;
  auto port = std::to_string(srv.port());
  // A DNS-rebinding page: evil.example now resolves to 127.0.0.1, and the browser calls it same-origin.
  headers evil{{"Host", "evil.example:" + port}, {"Origin", "http://evil.example:" + port}};
  for (auto path : {"/", "/healthz", "/v1/projects", "/v1/admin/metrics"}) {
    auto r = http_request(srv.port(), http::verb::get, path, {}, evil);
    EXPECT_EQ(r.status, 421u) << path;
  }
  EXPECT_EQ(http_request(srv.port(), http::verb::post, "/v1/projects", R"({"name":"x"})", evil).status, 421u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/ws", {}, upgrade_headers(evil)).status, 421u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz", {}, {{"Host", ""}}).status, 421u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz", {}, {{"Host", "localhost:1"}}).status, 421u);
  for (auto ok : {"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port, "LocalHost:" + port}) {
    EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz", {}, {{"Host", ok}}).status, 200u) << ok;
    // Same origin through an allowed name still works for browsers.
    EXPECT_EQ(http_request(srv.port(), http::verb::get, "/v1/projects", {}, {{"Host", ok}, {"Origin", "http://" + ok}}).status,
              200u)
        << ok;
  }
}

TEST(AllowedHosts, ConfiguredHostsReplaceTheDefaultsAndStarAllowsAny) {
  server_process srv({"--allowed-hosts", "app.example"});
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz", {}, {{"Host", "app.example"}}).status, 200u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz", {}, {{"Host", "app.example:443"}}).status, 200u);
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/healthz", {}, {{"Host", "evil.example"}}).status, 421u);
  EXPECT_EQ(
      http_request(srv.port(), http::verb::get, "/healthz", {}, {{"Host", "localhost:" + std::to_string(srv.port())}}).status,
      421u);
  server_process any({"--allowed-hosts", "*"});
  EXPECT_EQ(http_request(any.port(), http::verb::get, "/healthz", {}, {{"Host", "evil.example"}}).status, 200u);
}

// ---- item 7: the client address behind proxies -----------------------------------------------

std::string source_ip_of(const server_process& srv, const std::string& connection_id) {
  auto r = http_request(srv.port(), http::verb::get, "/@connections/" + connection_id, {}, srv.admin_headers());
  return std::string(r.json().at("identity").at("sourceIp").as_string());
}

TEST(TrustedProxies, ForwardedForFromAnUntrustedPeerIsIgnored) {
  server_process srv({"--max-connections-per-ip", "1"});
  ws_client a(srv.port(), "/ws", {{"X-Forwarded-For", "203.0.113.1"}});
  // Another claimed address does not buy another slot: the cap is the real peer's.
  auto r = http_request(srv.port(), http::verb::get, "/ws", {}, upgrade_headers({{"X-Forwarded-For", "203.0.113.2"}}));
  EXPECT_EQ(r.status, 429u);
  r = http_request(srv.port(), http::verb::get, "/ws", {}, upgrade_headers({{"Forwarded", "for=203.0.113.3"}}));
  EXPECT_EQ(r.status, 429u);
  // The connection table and the logs show the real peer too.
  server_process open_srv;
  ws_client b(open_srv.port(), "/ws", {{"X-Forwarded-For", "203.0.113.1"}, {"Forwarded", "for=203.0.113.4"}});
  EXPECT_EQ(source_ip_of(open_srv, b.connection_id()), "127.0.0.1");
  // A claimed X-Forwarded-Proto does not make the identity cookie Secure.
  auto c = http_request(open_srv.port(), http::verb::get, "/healthz", {}, {{"X-Forwarded-Proto", "https"}});
  EXPECT_TRUE(has(c.headers["Set-Cookie"], "sg_anon="));
  EXPECT_FALSE(has(c.headers["Set-Cookie"], "Secure"));
}

TEST(TrustedProxies, ForwardedForFromATrustedPeerNamesTheClient) {
  server_process srv({"--trusted-proxies", "127.0.0.0/8", "--max-connections-per-ip", "1"});
  // The left-most entry is the client's own claim; the right-most untrusted one is what our proxy saw.
  ws_client a(srv.port(), "/ws", {{"X-Forwarded-For", "6.6.6.6, 203.0.113.1"}});
  ws_client b(srv.port(), "/ws", {{"Forwarded", "for=203.0.113.2;proto=https"}});
  EXPECT_EQ(source_ip_of(srv, a.connection_id()), "203.0.113.1");
  EXPECT_EQ(source_ip_of(srv, b.connection_id()), "203.0.113.2");
  // Each forwarded client has its own per-address cap.
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/ws", {}, upgrade_headers({{"X-Forwarded-For", "203.0.113.1"}})).status,
            429u);
  // IPv6 clients count by /64: another address in the same /64 is the same client for limits.
  ws_client v6(srv.port(), "/ws", {{"X-Forwarded-For", "2001:db8:1:2::1"}});
  EXPECT_EQ(source_ip_of(srv, v6.connection_id()), "2001:db8:1:2::1");
  EXPECT_EQ(http_request(srv.port(), http::verb::get, "/ws", {},
                         upgrade_headers({{"X-Forwarded-For", "2001:db8:1:2:ffff::9"}}))
                .status,
            429u);
  ws_client other64(srv.port(), "/ws", {{"X-Forwarded-For", "2001:db8:1:3::1"}});
  // The proxy says the client came over HTTPS: the identity cookie is Secure.
  auto c = http_request(srv.port(), http::verb::get, "/healthz", {}, {{"X-Forwarded-Proto", "https"}});
  EXPECT_TRUE(has(c.headers["Set-Cookie"], "; Secure"));
}

TEST(TrustedProxies, ARetriedRequestIdIsMatchedByOwnerNotByAddress) {
  // Two users behind one proxy address pick the same requestId: each gets a stream of their own.
  server_process srv({"--trusted-proxies", "127.0.0.1", "--demo-ttft-ms", "500"});
  headers alice{{"X-Forwarded-For", "198.51.100.9"}, {"X-Streamgate-Anonymous-Key", "alice-key-0123456789abcdefgh"}};
  headers bob{{"X-Forwarded-For", "198.51.100.9"}, {"X-Streamgate-Anonymous-Key", "bob-key-0123456789abcdefghij"}};
  ws_client a(srv.port(), "/ws", alice);
  a.send_json(stream_request("alice's question", "test", "same-id"));
  auto a_id = std::string(a.read_until("stream_start").back().at("streamId").as_string());
  ws_client b(srv.port(), "/ws", bob);
  b.send_json(stream_request("bob's question", "test", "same-id"));
  auto b_id = std::string(b.read_until("stream_start").back().at("streamId").as_string());
  EXPECT_NE(a_id, b_id);
  // Alice's own retry, from another connection, is her first stream.
  ws_client a2(srv.port(), "/ws", alice);
  a2.send_json(stream_request("alice's question", "test", "same-id"));
  EXPECT_EQ(std::string(a2.read_until("stream_start").back().at("streamId").as_string()), a_id);
}

}  // namespace
}  // namespace sg::test
