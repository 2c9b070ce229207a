// Every kind of bad input gets its defined answer, and the server keeps serving everyone else.
#include "integration/harness.hpp"
#include "core/asio.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <algorithm>

namespace sg::test {
namespace {

namespace json = boost::json;

class BadInput : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { srv_ = new server_process({"--demo-tokens-per-second", "2000"}); }
  static void TearDownTestSuite() {
    delete srv_;
    srv_ = nullptr;
  }
  // The connection still answers a ping, and a fresh connection can stream.
  static void expect_still_serving(ws_client& c) {
    c.send_json({{"action", "ping"}, {"requestId", "alive"}});
    auto pong = c.read_until("pong").back();
    EXPECT_EQ(pong.at("requestId"), "alive");
  }
  static void expect_others_unaffected() {
    ws_client other(srv_->port());
    other.send_json(stream_request("still here"));
    auto events = other.read_until("stream_complete");
    EXPECT_EQ(events.back().at("type"), "stream_complete");
  }
  static json::object error_for(const std::string& frame) {
    ws_client c(srv_->port());
    c.send(frame);
    auto e = c.read();
    EXPECT_EQ(e.at("type"), "error") << frame;
    expect_still_serving(c);
    return e;
  }
  static server_process* srv_;
};
server_process* BadInput::srv_ = nullptr;

TEST_F(BadInput, InvalidJson) {
  auto e = error_for("{not json");
  EXPECT_EQ(e.at("code"), "bad_request");
  EXPECT_EQ(e.at("retryable"), false);
}

TEST_F(BadInput, NonObject) {
  EXPECT_EQ(error_for("[1,2,3]").at("code"), "bad_request");
  EXPECT_EQ(error_for("\"stream\"").at("code"), "bad_request");
}

TEST_F(BadInput, MissingAction) { EXPECT_EQ(error_for(R"({"projectId":"p"})").at("code"), "unknown_action"); }

TEST_F(BadInput, UnknownActionGoesToDefaultRoute) {
  auto e = error_for(R"({"action":"dance","requestId":"d1"})");
  EXPECT_EQ(e.at("code"), "unknown_action");
  EXPECT_EQ(e.at("requestId"), "d1");
}

TEST_F(BadInput, MissingField) {
  auto e = error_for(R"({"action":"stream","projectId":"p","requestId":"m1"})");
  EXPECT_EQ(e.at("code"), "bad_request");
  EXPECT_EQ(e.at("field"), "userInput");
  EXPECT_EQ(e.at("requestId"), "m1");
}

TEST_F(BadInput, MistypedFields) {
  EXPECT_EQ(error_for(R"({"action":"stream","projectId":5,"userInput":"x"})").at("field"), "projectId");
  EXPECT_EQ(error_for(R"({"action":"stream","projectId":"p","userInput":"x","chat_history":{}})").at("field"),
            "chat_history");
  EXPECT_EQ(error_for(R"({"action":"stream","projectId":"p","userInput":"x","chat_history":[{"role":"robot","content":"x"}]})")
                .at("field"),
            "chat_history[0].role");
  EXPECT_EQ(error_for(R"({"action":"resume","streamId":"s","lastSeq":-1})").at("field"), "lastSeq");
  EXPECT_EQ(error_for(R"({"action":"resume","streamId":"s","lastSeq":"3"})").at("field"), "lastSeq");
  EXPECT_EQ(error_for(R"({"action":5})").at("field"), "action");
}

TEST_F(BadInput, UnknownProvider) {
  auto e = error_for(R"({"action":"stream","projectId":"p","userInput":"x","provider":"nope"})");
  EXPECT_EQ(e.at("code"), "bad_request");
  EXPECT_EQ(e.at("field"), "provider");
}

TEST_F(BadInput, BinaryFrame) {
  ws_client c(srv_->port());
  c.send_binary(std::string("\x00\x01\x02", 3));
  auto e = c.read();
  EXPECT_EQ(e.at("code"), "bad_request");
  expect_still_serving(c);
}

// Between messages the server's read holds no buffer of its own (it waits for the next frame header
// into nothing): a message still arrives whole however it is cut into frames, with a control frame
// between its fragments, several messages back to back, and an empty one.
TEST_F(BadInput, MessagesArriveWholeHoweverTheyAreFramed) {
  net::io_context ioc;
  websocket::stream<tcp::socket> ws(ioc);
  auto& sock = ws.next_layer();
  sock.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), srv_->port()));
  sock.set_option(tcp::no_delay(true));
  timeval limit{5, 0};  // a read that gets nothing fails instead of waiting forever
  ASSERT_EQ(setsockopt(sock.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit), 0);
  ws.handshake("127.0.0.1:" + std::to_string(srv_->port()), "/ws");
  beast::flat_buffer buf;
  auto next = [&] {
    buf.clear();
    ws.read(buf);
    return json::parse(beast::buffers_to_string(buf.data())).as_object();
  };
  EXPECT_EQ(next().at("type"), "connected");
  ws.text(true);

  // Five-byte fragments, each its own write, and the client's own ping between two of them.
  std::string msg = R"({"action":"ping","requestId":"in-pieces"})";
  for (std::size_t i = 0; i < msg.size(); i += 5) {
    auto n = std::min<std::size_t>(5, msg.size() - i);
    ws.write_some(i + n == msg.size(), net::buffer(msg.data() + i, n));
    if (i == 10) ws.ping({});
  }
  auto pong = next();
  EXPECT_EQ(pong.at("type"), "pong");
  EXPECT_EQ(pong.at("requestId"), "in-pieces");

  // Three messages written before any answer is read: three answers, in order.
  for (int i = 1; i <= 3; ++i) ws.write(net::buffer(R"({"action":"ping","requestId":"b)" + std::to_string(i) + "\"}"));
  for (int i = 1; i <= 3; ++i) EXPECT_EQ(next().at("requestId").as_string(), "b" + std::to_string(i));

  // An empty message is not JSON; the connection stays.
  ws.write(net::buffer(std::string()));
  EXPECT_EQ(next().at("code"), "bad_request");
  ws.write(net::buffer(std::string(R"({"action":"ping","requestId":"after"})")));
  EXPECT_EQ(next().at("requestId"), "after");
}

TEST_F(BadInput, InvalidUtf8ClosesWith1007) {
  ws_client c(srv_->port());
  c.send("{\"action\":\"ping\",\"x\":\"\xff\xfe\"}");
  EXPECT_FALSE(c.read_text());
  EXPECT_EQ(c.close_code(), 1007);
  expect_others_unaffected();
}

TEST_F(BadInput, OversizeMessageClosesWith1009) {
  ws_client c(srv_->port());
  std::string big = R"({"action":"stream","projectId":"p","userInput":")" + std::string(129 * 1024, 'a') + "\"}";
  c.send(big);
  EXPECT_FALSE(c.read_text());
  EXPECT_EQ(c.close_code(), 1009);
  expect_others_unaffected();
}

TEST_F(BadInput, MessageJustUnderTheLimitIsAccepted) {
  ws_client c(srv_->port());
  std::string input(100 * 1024, 'a');
  // userInput is capped at 64 KiB: the answer is a field error, not a close.
  c.send(R"({"action":"stream","projectId":"p","userInput":")" + input + "\"}");
  auto e = c.read();
  EXPECT_EQ(e.at("code"), "bad_request");
  EXPECT_EQ(e.at("field"), "userInput");
}

TEST_F(BadInput, ResumeOfUnknownStreamIsNotFound) {
  auto e = error_for(R"({"action":"resume","streamId":"st_unknown","lastSeq":0,"requestId":"r"})");
  EXPECT_EQ(e.at("code"), "not_found");
  EXPECT_EQ(e.at("streamId"), "st_unknown");
  EXPECT_FALSE(e.contains("seq"));
}

TEST_F(BadInput, FifthConcurrentStreamIsRefused) {
  server_process slow({"--demo-ttft-ms", "2000"});
  ws_client c(slow.port());
  for (int i = 0; i < 4; ++i) c.send_json(stream_request("s" + std::to_string(i)));
  c.send_json(stream_request("fifth", "test", "five"));
  for (;;) {
    auto e = c.read();
    if (e.at("type") == "error") {
      EXPECT_EQ(e.at("code"), "too_many_streams");
      EXPECT_EQ(e.at("retryable"), true);
      EXPECT_EQ(e.at("requestId"), "five");
      break;
    }
  }
  expect_still_serving(c);
}

TEST_F(BadInput, MalformedHttpGets400) {
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), srv_->port()));
  std::string junk = "NOT HTTP AT ALL\r\n\r\n";
  net::write(s, net::buffer(junk));
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(s, buf, res);
  EXPECT_EQ(res.result_int(), 400u);
  EXPECT_EQ(json::parse(res.body()).at("code"), "bad_request");
  expect_others_unaffected();
}

TEST_F(BadInput, UnknownPathIs404Json) {
  auto r = http_request(srv_->port(), http::verb::get, "/no/such/thing");
  EXPECT_EQ(r.status, 404u);
  EXPECT_EQ(r.json().at("code"), "not_found");
  auto r2 = http_request(srv_->port(), http::verb::get, "/v1/nothing");
  EXPECT_EQ(r2.status, 404u);
}

TEST_F(BadInput, OversizeHttpBodyIs413) {
  auto r = http_request(srv_->port(), http::verb::post, "/v1/streams", std::string(200 * 1024, 'x'));
  EXPECT_EQ(r.status, 413u);
  EXPECT_EQ(r.json().at("code"), "payload_too_large");
}

TEST_F(BadInput, SseWithBadBodyIs400) {
  auto r = http_request(srv_->port(), http::verb::post, "/v1/streams", "[]");
  EXPECT_EQ(r.status, 400u);
  auto r2 = http_request(srv_->port(), http::verb::post, "/v1/streams", R"({"projectId":"p"})");
  EXPECT_EQ(r2.status, 400u);
  EXPECT_EQ(r2.json().at("field"), "userInput");
  auto r3 = http_request(srv_->port(), http::verb::get, "/v1/streams/st_x/events?lastSeq=abc");
  EXPECT_EQ(r3.status, 404u);
}

}  // namespace
}  // namespace sg::test
