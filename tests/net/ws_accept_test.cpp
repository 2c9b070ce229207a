// The handshake answered without Beast's response message: its 101 is byte for byte what Beast's
// accept writes with the session's decorator; it answers exactly the requests Beast's accept would
// answer with a 101 straight away, leaving every other to Beast; and the stream it opens reads and
// writes frames as one Beast's accept opened.
#include "net/ws_accept.hpp"

#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

namespace sg::io {
namespace {

namespace websocket = beast::websocket;
using local_socket = net::local::stream_protocol::socket;

http::request<http::string_body> upgrade_request(std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==") {
  http::request<http::string_body> req{http::verb::get, "/ws", 11};
  req.set(http::field::host, "127.0.0.1:8080");
  req.set(http::field::upgrade, "websocket");
  req.set(http::field::connection, "Upgrade");
  req.set(http::field::sec_websocket_key, key);
  req.set(http::field::sec_websocket_version, "13");
  req.set(http::field::user_agent, "test");
  return req;
}

// What Beast's accept writes for `req` with the session's decorator (decorate_answer), and its result.
struct beast_answer {
  std::string bytes;
  error_code ec;
};
beast_answer beast_accepts(const http::request<http::string_body>& req, const handshake_answer& a) {
  net::io_context ioc;
  local_socket server(ioc), client(ioc);
  net::local::connect_pair(server, client);
  websocket::stream<local_socket> ws(std::move(server));
  ws.set_option(websocket::stream_base::decorator([&](websocket::response_type& res) { decorate_answer(res, a); }));
  beast_answer out;
  ws.accept(req, out.ec);
  std::string got;
  error_code rec;
  net::read_until(client, net::dynamic_buffer(got), "\r\n\r\n", rec);
  EXPECT_FALSE(rec) << rec.message();
  out.bytes = got;
  return out;
}

std::string ours(std::string_view key, const handshake_answer& a) {
  std::string out;
  append_switching_protocols(out, key, a);
  return out;
}

TEST(WsAccept, The101IsByteForByteWhatBeastsAcceptWritesWithTheSessionsDecorator) {
  const std::string cookie = "sg_anon=AbC-123_xyz; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000";
  const std::vector<handshake_answer> answers = {
      {}, {.set_cookie = cookie, .bearer_subprotocol = false}, {.set_cookie = {}, .bearer_subprotocol = true}, {.set_cookie = cookie, .bearer_subprotocol = true}};
  for (std::string_view key : {"dGhlIHNhbXBsZSBub25jZQ==", "x3JJHMbDL1EzLkh9GBhXDw==", "AAAAAAAAAAAAAAAAAAAAAA=="}) {
    for (const auto& a : answers) {
      auto req = upgrade_request(key);
      ASSERT_EQ(key_to_accept_at_once(req), key);
      auto beast = beast_accepts(req, a);
      ASSERT_FALSE(beast.ec) << beast.ec.message();
      EXPECT_EQ(ours(key, a), beast.bytes);
    }
  }
  // RFC 6455's own example (section 1.3): the key of "the sample nonce" and its accept value.
  EXPECT_NE(ours("dGhlIHNhbXBsZSBub25jZQ==", {}).find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"),
            std::string::npos);
}

TEST(WsAccept, EveryRequestBeastWouldNotAnswerWithA101StraightAwayIsLeftToBeast) {
  using edit = std::function<void(http::request<http::string_body>&)>;
  struct variant {
    const char* name;
    edit change;
    bool beast_accepts;  // Beast's accept answers it with a 101 (ours leaves it to Beast all the same)
  };
  const std::vector<variant> variants = {
      {"as is", [](auto&) {}, true},
      {"HTTP/1.0", [](auto& r) { r.version(10); }, false},
      {"POST", [](auto& r) { r.method(http::verb::post); }, false},
      {"no Host", [](auto& r) { r.erase(http::field::host); }, false},
      {"no Connection", [](auto& r) { r.erase(http::field::connection); }, false},
      {"Connection: keep-alive", [](auto& r) { r.set(http::field::connection, "keep-alive"); }, false},
      {"Connection: keep-alive, Upgrade", [](auto& r) { r.set(http::field::connection, "keep-alive, Upgrade"); }, true},
      {"a first Connection without upgrade",
       [](auto& r) {
         r.erase(http::field::connection);
         r.insert(http::field::connection, "keep-alive");
         r.insert(http::field::connection, "upgrade");
       },
       false},
      {"no Upgrade", [](auto& r) { r.erase(http::field::upgrade); }, false},
      {"Upgrade: h2c", [](auto& r) { r.set(http::field::upgrade, "h2c"); }, false},
      {"Upgrade: WebSocket", [](auto& r) { r.set(http::field::upgrade, "WebSocket"); }, true},
      {"no key", [](auto& r) { r.erase(http::field::sec_websocket_key); }, false},
      {"a 25-character key", [](auto& r) { r.set(http::field::sec_websocket_key, std::string(25, 'A')); }, false},
      {"version 8", [](auto& r) { r.set(http::field::sec_websocket_version, "8"); }, false},
      {"no version", [](auto& r) { r.erase(http::field::sec_websocket_version); }, false},
      {"a second version after 13",
       [](auto& r) { r.insert(http::field::sec_websocket_version, "8"); }, true},
      {"permessage-deflate offered (off in streamgate: declined by silence)",
       [](auto& r) { r.set(http::field::sec_websocket_extensions, "permessage-deflate; client_max_window_bits"); },
       true},
      {"subprotocols offered", [](auto& r) { r.set(http::field::sec_websocket_protocol, "bearer, abc.def.ghi"); }, true},
      {"Expect: 100-continue", [](auto& r) { r.set(http::field::expect, "100-continue"); }, true},
      {"an empty key", [](auto& r) { r.set(http::field::sec_websocket_key, ""); }, true},
  };
  for (const auto& v : variants) {
    SCOPED_TRACE(v.name);
    auto req = upgrade_request();
    v.change(req);
    auto beast = beast_accepts(req, {});
    EXPECT_EQ(!beast.ec, v.beast_accepts) << beast.ec.message();
    auto key = key_to_accept_at_once(req);
    if (!key.empty()) {
      // Answered here only what Beast answers with a 101, and with Beast's bytes.
      ASSERT_FALSE(beast.ec);
      EXPECT_EQ(ours(key, {}), beast.bytes);
    }
    const bool left_to_beast_though_it_accepts =
        std::string_view(v.name) == "Expect: 100-continue" || std::string_view(v.name) == "an empty key";
    EXPECT_EQ(key.empty(), !v.beast_accepts || left_to_beast_though_it_accepts);
  }
}

TEST(WsAccept, TheStreamItOpensTakesAndSendsFramesBehindThe101InOneSend) {
  net::io_context ioc{1};
  tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(ioc);
  client.connect(acc.local_endpoint());
  shard_socket s(ioc.get_executor());
  acc.accept(s);
  websocket::stream<ws_socket> ws(ws_socket(std::move(s)));

  auto req = upgrade_request();
  accept_at_once(ws, key_to_accept_at_once(req), {.set_cookie = {}, .bearer_subprotocol = true});
  EXPECT_TRUE(ws.is_open());
  EXPECT_TRUE(ws.next_layer().holds_held());
  // The first frame joins the held 101; the flush sends both.
  ws.text(true);
  ws.write(net::buffer(std::string_view("{\"type\":\"connected\"}")));
  bool flushed = false;
  ws.next_layer().async_flush([&](error_code ec, std::size_t) {
    EXPECT_FALSE(ec);
    flushed = true;
  });
  ioc.run_for(std::chrono::seconds(5));
  ASSERT_TRUE(flushed);
  EXPECT_FALSE(ws.next_layer().holds_tail());

  // A client reads the 101 and the frame, and its frame reaches the server's stream.
  websocket::stream<tcp::socket> cws(std::move(client));
  error_code ec;
  beast::flat_buffer head;
  http::response_parser<http::empty_body> parser;
  parser.skip(true);  // a 101 has no body
  http::read(cws.next_layer(), head, parser, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(parser.get().result(), http::status::switching_protocols);
  EXPECT_EQ(parser.get()[http::field::sec_websocket_protocol], "bearer");
  EXPECT_EQ(parser.get()[http::field::sec_websocket_accept], "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // The frame after the 101: a server's text frame, unmasked, 20 bytes.
  ASSERT_GE(head.size(), 2u);
  auto* b = static_cast<const unsigned char*>(head.data().data());
  EXPECT_EQ(b[0], 0x81);
  EXPECT_EQ(b[1], 20);

  // Client to server: a masked frame, as any client sends it, is read by the stream opened here.
  std::string masked = {static_cast<char>(0x81), static_cast<char>(0x82), 1, 2, 3, 4};
  masked += static_cast<char>('h' ^ 1);
  masked += static_cast<char>('i' ^ 2);
  net::write(cws.next_layer(), net::buffer(masked), ec);
  ASSERT_FALSE(ec);
  beast::flat_buffer in;
  ws.read(in, ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(beast::buffers_to_string(in.data()), "hi");
  EXPECT_TRUE(ws.got_text());
}

}  // namespace
}  // namespace sg::io
