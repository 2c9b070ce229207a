// Route integrations without sockets: settings, the circuit breaker, $connect decisions, message routing.
#include "gateway/integrations.hpp"
#include "gateway/route_messages.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <gtest/gtest.h>

namespace sg::gateway {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

TEST(Integrations, RouteSettingsFromToml) {
  auto routes = parse_route_settings(R"(
[routes."$connect"]
url = "http://127.0.0.1:9000/connect"
timeout_ms = 250
headers = { Authorization = "Bearer ${ROUTE_TOKEN}" }
[routes."$disconnect"]
url = "http://127.0.0.1:9000/disconnect"
retries = 4
[routes.subscribe]
url = "http://127.0.0.1:9000/subscribe?v=2"
max_concurrency = 3
breaker_failures = 2
breaker_reset_ms = 100
[routes."$default"]
url = "http://127.0.0.1:9000/default"
)",
                                     {{"ROUTE_TOKEN", "t0k"}});
  ASSERT_EQ(routes.size(), 4u);
  auto find = [&](std::string_view n) { return *std::find_if(routes.begin(), routes.end(), [&](auto& r) { return r.name == n; }); };
  EXPECT_EQ(find("$connect").timeout_ms, 250);
  EXPECT_EQ(find("$connect").headers.at(0).second, "Bearer t0k");
  EXPECT_EQ(find("$disconnect").retries, 4u);
  EXPECT_EQ(find("subscribe").max_concurrency, 3u);
  EXPECT_EQ(find("subscribe").breaker_failures, 2u);
  EXPECT_EQ(find("$default").timeout_ms, 5000) << "the default timeout";

  for (auto bad : {R"([routes."$weird"]
url = "http://x")",
                   R"([routes.a]
url = "ftp://x")",
                   R"([routes.a]
timeout_ms = 5)",
                   R"([routes.a]
url = "http://x"
timeout_ms = 0)",
                   R"([routes.a]
url = "http://x"
colour = "red")",
                   R"([routes."has space"]
url = "http://x")",
                   R"([routes.a]
url = "http://${NOPE}/")"})
    EXPECT_THROW(parse_route_settings(bad, {}), std::invalid_argument) << bad;
  EXPECT_TRUE(parse_route_settings("listen = \"127.0.0.1:1\"\n", {}).empty());
}

TEST(Integrations, CircuitBreakerOpensAfterConsecutiveFailuresAndTriesOnceAfterTheReset) {
  circuit_breaker b(3, 100ms);
  auto t = std::chrono::steady_clock::time_point{} + 1h;
  EXPECT_TRUE(b.allow(t));
  b.failure(t);
  b.failure(t);
  b.success();  // a success resets the count
  b.failure(t);
  b.failure(t);
  EXPECT_EQ(b.current(t), circuit_breaker::state::closed);
  b.failure(t);
  EXPECT_EQ(b.current(t), circuit_breaker::state::open);
  EXPECT_FALSE(b.allow(t + 99ms));
  EXPECT_EQ(b.current(t + 100ms), circuit_breaker::state::half_open);
  EXPECT_TRUE(b.allow(t + 100ms)) << "one trial";
  EXPECT_FALSE(b.allow(t + 101ms)) << "only one trial at a time";
  b.failure(t + 150ms);  // the trial failed: open again, for a full reset period
  EXPECT_FALSE(b.allow(t + 200ms));
  EXPECT_TRUE(b.allow(t + 250ms));
  b.success();
  EXPECT_EQ(b.current(t + 250ms), circuit_breaker::state::closed);
  EXPECT_TRUE(b.allow(t + 250ms));
  EXPECT_TRUE(b.allow(t + 250ms));

  circuit_breaker never(0, 10ms);
  for (int i = 0; i < 100; ++i) never.failure(t);
  EXPECT_TRUE(never.allow(t));
}

TEST(Integrations, ConnectDecisions) {
  auto ok = decide_connect({call_outcome::ok, 200, R"({"context":{"tenant":"acme","plan":1}})"});
  EXPECT_TRUE(ok.admit);
  EXPECT_EQ(json::parse(ok.context_json).at("tenant"), "acme");
  EXPECT_TRUE(decide_connect({call_outcome::ok, 204, ""}).admit);
  EXPECT_TRUE(decide_connect({call_outcome::ok, 200, "welcome"}).admit) << "a body that is not JSON carries no context";
  EXPECT_TRUE(decide_connect({call_outcome::ok, 200, "welcome"}).context_json.empty());

  auto denied = decide_connect({call_outcome::http_4xx, 401, "no"});
  EXPECT_FALSE(denied.admit);
  EXPECT_EQ(denied.status, 401u);
  EXPECT_EQ(denied.error.code, proto::error_code::unauthorized);
  EXPECT_EQ(decide_connect({call_outcome::http_4xx, 403, ""}).status, 403u);
  EXPECT_EQ(decide_connect({call_outcome::http_4xx, 403, ""}).error.code, proto::error_code::forbidden);
  EXPECT_EQ(decide_connect({call_outcome::http_5xx, 500, ""}).status, 500u);
  EXPECT_EQ(decide_connect({call_outcome::http_4xx, 302, ""}).status, 403u) << "a redirect refuses as 403";
  auto slow = decide_connect({call_outcome::timeout, 0, ""});
  EXPECT_FALSE(slow.admit);
  EXPECT_EQ(slow.status, 503u);
  EXPECT_EQ(slow.error.code, proto::error_code::upstream_timeout);
  EXPECT_EQ(decide_connect({call_outcome::circuit_open, 0, ""}).status, 503u);
  std::string big = R"({"context":{"x":")" + std::string(9000, 'a') + R"("}})";
  EXPECT_FALSE(decide_connect({call_outcome::ok, 200, big}).admit);
}

TEST(Integrations, MessagesGoToTheirRoute) {
  boost::asio::io_context ioc;
  auto route = [](std::string n) {
    route_settings r;
    r.name = std::move(n);
    r.url = "http://127.0.0.1:9/x";
    return r;
  };
  integrations with_default(ioc, {route("subscribe"), route("ping"), route("$default"), route("$connect")});
  integrations without_default(ioc, {route("subscribe")});
  std::string rid;
  bool is_json = false;
  EXPECT_EQ(message_route(R"({"action":"subscribe","requestId":"r9"})", with_default, rid, is_json), "subscribe");
  EXPECT_EQ(rid, "r9");
  EXPECT_TRUE(is_json);
  EXPECT_EQ(message_route(R"({"action":"ping"})", with_default, rid, is_json), "ping") << "a route overrides a built-in";
  EXPECT_EQ(message_route(R"({"action":"stream"})", with_default, rid, is_json), std::nullopt) << "built-ins stay";
  EXPECT_EQ(message_route(R"({"action":"other"})", with_default, rid, is_json), "$default");
  EXPECT_EQ(message_route(R"({"action":"$connect"})", with_default, rid, is_json), "$default")
      << "a client cannot call $connect";
  EXPECT_EQ(message_route(R"({"no":"action"})", with_default, rid, is_json), "$default");
  EXPECT_EQ(message_route("plain text", with_default, rid, is_json), "$default");
  EXPECT_FALSE(is_json);
  EXPECT_EQ(message_route(R"({"action":"other"})", without_default, rid, is_json), std::nullopt)
      << "without $default the built-in unknown_action answer stays";
  EXPECT_EQ(message_route(R"({"action":"ping"})", without_default, rid, is_json), std::nullopt);
  EXPECT_TRUE(with_default.has_message_routes());
  integrations lifecycle_only(ioc, {route("$connect"), route("$disconnect")});
  EXPECT_FALSE(lifecycle_only.has_message_routes());
}

TEST(Integrations, BodiesAndFailures) {
  auto c = json::parse(connect_body("c1", "10.0.0.1", "ua", "anon:x", {{"X-Token", "a"}, {"x-token", "b"}, {"Host", "h"}},
                                    {{"room", "1"}, {"room", "2"}}))
               .as_object();
  EXPECT_EQ(c.at("connectionId"), "c1");
  EXPECT_EQ(c.at("sourceIp"), "10.0.0.1");
  EXPECT_EQ(c.at("userAgent"), "ua");
  EXPECT_EQ(c.at("sub"), "anon:x");
  EXPECT_EQ(c.at("headers").at("x-token"), "a, b");
  EXPECT_EQ(c.at("query").at("room"), "1");
  auto d = json::parse(disconnect_body("c1", 1001, "u", "ip", 5, 9, R"({"t":1})")).as_object();
  EXPECT_EQ(d.at("closeCode").to_number<int>(), 1001);
  EXPECT_EQ(d.at("context").at("t").to_number<int>(), 1);
  EXPECT_EQ(route_failure("subscribe", {call_outcome::timeout, 0, ""}).code, proto::error_code::upstream_timeout);
  EXPECT_EQ(route_failure("subscribe", {call_outcome::http_5xx, 502, ""}).code, proto::error_code::upstream_unavailable);
  EXPECT_EQ(route_failure("subscribe", {call_outcome::http_4xx, 400, ""}).code, proto::error_code::upstream_error);
  EXPECT_EQ(route_failure("subscribe", {call_outcome::busy, 0, ""}).code, proto::error_code::upstream_rate_limited);
}

}  // namespace
}  // namespace sg::gateway
