// The plain WebSocket's socket: a synchronous write never blocks and keeps what the socket did not
// take; Beast's writes are counted while they run and queue behind a tail; the flush writes the tail
// and what queued behind it in order; a close answered while a tail waits goes out after it.
#include "net/stream_types.hpp"

#include <boost/asio/read.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include <array>
#include <optional>
#include <string>

namespace sg::io {
namespace {

namespace websocket = beast::websocket;

// A connected pair over loopback with small buffers (fixed sizes: the kernel does not grow them),
// so that a few hundred KiB fill them.
struct pair {
  net::io_context ioc{1};
  std::optional<ws_socket> server;
  tcp::socket client{ioc};

  pair() {
    tcp::acceptor acc(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
    client.open(tcp::v4());
    client.set_option(net::socket_base::receive_buffer_size(16 * 1024));
    client.connect(acc.local_endpoint());
    shard_socket s(ioc.get_executor());
    acc.accept(s);
    s.set_option(net::socket_base::send_buffer_size(16 * 1024));
    server.emplace(std::move(s));
  }
  // Runs handlers until `done` holds, or fails the test after 10 s.
  template <class Pred>
  void run_until(Pred done) {
    ioc.restart();
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < until) ioc.run_one_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(done());
  }
};

std::string filled(std::size_t n, char from) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(from + static_cast<char>(i % 23));
  return s;
}

TEST(WsSocket, AWriteTheSocketDoesNotTakeWholeIsKeptAndFlushedWithWhatQueuedBehindIt) {
  pair p;
  auto& s = *p.server;
  EXPECT_TRUE(s.writable_now());

  // Small: the socket takes it whole, and nothing is kept.
  error_code ec;
  std::string small = filled(100, 'a');
  EXPECT_EQ(s.write_some(net::buffer(small), ec), small.size());
  EXPECT_FALSE(ec);
  EXPECT_FALSE(s.holds_tail());
  EXPECT_TRUE(s.writable_now());

  // Large, in two buffers: reported written whole, the rest kept.
  std::string big1 = filled(300 * 1024, 'A'), big2 = filled(200 * 1024, 'k');
  std::array<net::const_buffer, 2> bufs{net::buffer(big1), net::buffer(big2)};
  EXPECT_EQ(s.write_some(bufs, ec), big1.size() + big2.size());
  EXPECT_FALSE(ec);
  EXPECT_TRUE(s.holds_tail());
  EXPECT_FALSE(s.writable_now());

  // A write of Beast's while the tail waits completes at once (the client reads nothing meanwhile).
  std::string control = filled(40, '0');
  std::optional<std::pair<error_code, std::size_t>> queued;
  s.async_write_some(net::buffer(control), [&](error_code e, std::size_t n) { queued.emplace(e, n); });
  EXPECT_FALSE(queued);  // never from inside the call
  p.run_until([&] { return queued.has_value(); });
  EXPECT_FALSE(queued->first);
  EXPECT_EQ(queued->second, control.size());

  // The flush writes the tail, then what queued behind it; the client gets every byte in order.
  std::optional<error_code> flushed;
  s.async_flush([&](error_code e, std::size_t) { flushed = e; });
  std::string expected = small + big1 + big2 + control;
  std::string got(expected.size(), '\0');
  std::optional<error_code> read;
  net::async_read(p.client, net::buffer(got), [&](error_code e, std::size_t) { read = e; });
  p.run_until([&] { return flushed && read; });
  EXPECT_FALSE(*flushed);
  EXPECT_FALSE(*read);
  EXPECT_TRUE(got == expected);
  EXPECT_FALSE(s.holds_tail());
  EXPECT_TRUE(s.writable_now());

  // A write of Beast's with no tail goes to the socket, and is counted until its handler runs.
  std::optional<error_code> sent;
  s.async_write_some(net::buffer(control), [&](error_code e, std::size_t) { sent = e; });
  EXPECT_FALSE(s.writable_now());
  p.run_until([&] { return sent.has_value(); });
  EXPECT_FALSE(*sent);
  EXPECT_TRUE(s.writable_now());
}

// The 101's way out: with "more follows" set, a write of Beast's is held in the socket and completes
// at once; the next synchronous write is kept behind it and the flush sends both, in order. Held and
// then flushed alone (no frame came), it reaches the client too.
TEST(WsSocket, AHeldWriteCompletesAtOnceAndLeavesWithTheNextWriteOrOnItsOwn) {
  pair p;
  auto& s = *p.server;
  std::string head = filled(120, 'H'), frame = filled(80, 'f');
  // Beast's write of `head` with the mark set, as the handshake makes it: it completes with its size.
  auto hold_head = [&] {
    s.more_follows(true);
    std::optional<std::pair<error_code, std::size_t>> wrote;
    s.async_write_some(net::buffer(head), [&](error_code e, std::size_t n) { wrote.emplace(e, n); });
    EXPECT_FALSE(wrote);  // never from inside the call
    p.run_until([&] { return wrote.has_value(); });
    EXPECT_FALSE(wrote->first);
    EXPECT_EQ(wrote->second, head.size());
    s.more_follows(false);
  };
  hold_head();
  EXPECT_TRUE(s.holds_held());
  EXPECT_TRUE(s.holds_tail());
  EXPECT_TRUE(s.writable_now());  // a frame may be written at once: it takes the held bytes along
  EXPECT_EQ(p.client.available(), 0u) << "nothing was sent yet";

  error_code ec;
  EXPECT_EQ(s.write_some(net::buffer(frame), ec), frame.size());
  EXPECT_FALSE(ec);
  ASSERT_TRUE(s.holds_tail());
  std::optional<error_code> flushed;
  s.async_flush([&](error_code e, std::size_t) { flushed = e; });
  EXPECT_FALSE(s.holds_held());
  std::string got(head.size() + frame.size(), '\0');
  std::optional<error_code> read;
  net::async_read(p.client, net::buffer(got), [&](error_code e, std::size_t) { read = e; });
  p.run_until([&] { return flushed && read; });
  EXPECT_FALSE(*flushed);
  EXPECT_TRUE(got == head + frame);
  EXPECT_FALSE(s.holds_tail());

  // Held, and no frame follows: the flush sends it alone.
  hold_head();
  ASSERT_TRUE(s.holds_held());
  flushed.reset();
  read.reset();
  s.async_flush([&](error_code e, std::size_t) { flushed = e; });
  std::string alone(head.size(), '\0');
  net::async_read(p.client, net::buffer(alone), [&](error_code e, std::size_t) { read = e; });
  p.run_until([&] { return flushed && read; });
  EXPECT_FALSE(*flushed);
  EXPECT_TRUE(alone == head);
  EXPECT_FALSE(s.holds_tail());
  EXPECT_TRUE(s.writable_now());
}

TEST(WsSocket, AFlushOnAClosedSocketEndsWithTheErrorAndKeepsNothing) {
  pair p;
  auto& s = *p.server;
  std::string big = filled(600 * 1024, 'A');
  error_code ec;
  s.write_some(net::buffer(big), ec);
  ASSERT_TRUE(s.holds_tail());
  std::optional<error_code> flushed;
  s.async_flush([&](error_code e, std::size_t) { flushed = e; });
  s.close(ec);
  p.run_until([&] { return flushed.has_value(); });
  EXPECT_TRUE(*flushed);
  EXPECT_FALSE(s.holds_tail());
}

TEST(WsSocket, FramesPastAFullSocketReachABeastClientWholeAndThePeersCloseIsAnsweredAfterThem) {
  pair p;
  websocket::stream<ws_socket&> server(*p.server);
  websocket::stream<tcp::socket&> client(p.client);
  std::optional<error_code> accepted, handshaken;
  server.async_accept([&](error_code e) { accepted = e; });
  client.async_handshake("127.0.0.1", "/ws", [&](error_code e) { handshaken = e; });
  p.run_until([&] { return accepted && handshaken; });
  ASSERT_FALSE(*accepted);
  ASSERT_FALSE(*handshaken);
  server.auto_fragment(false);
  server.text(true);
  auto& sock = *p.server;

  // A frame larger than both buffers: written at once, its tail kept; a ping queues behind it.
  std::string frame1 = filled(256 * 1024, 'a');
  ASSERT_TRUE(sock.writable_now());
  error_code ec;
  server.write(net::buffer(frame1), ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(sock.holds_tail());
  std::optional<error_code> pinged, flushed;
  server.async_ping({}, [&](error_code e) { pinged = e; });
  p.run_until([&] { return pinged.has_value(); });
  EXPECT_FALSE(*pinged);
  sock.async_flush([&](error_code e, std::size_t) { flushed = e; });

  int pings = 0;
  client.control_callback([&](websocket::frame_type t, beast::string_view) { pings += t == websocket::frame_type::ping; });
  beast::flat_buffer got;
  std::optional<error_code> read;
  client.async_read(got, [&](error_code e, std::size_t) { read = e; });
  p.run_until([&] { return read && flushed; });
  ASSERT_FALSE(*read);
  EXPECT_FALSE(*flushed);
  EXPECT_TRUE(beast::buffers_to_string(got.data()) == frame1);
  // The ping came after the frame, and before what is written next.
  ASSERT_TRUE(sock.writable_now());
  server.write(net::buffer(std::string_view("after")), ec);
  ASSERT_FALSE(ec);
  EXPECT_FALSE(sock.holds_tail());
  got.clear();
  read.reset();
  client.async_read(got, [&](error_code e, std::size_t) { read = e; });
  p.run_until([&] { return read.has_value(); });
  ASSERT_FALSE(*read);
  EXPECT_EQ(beast::buffers_to_string(got.data()), "after");
  EXPECT_EQ(pings, 1);

  // Another such frame, unread, when the client closes: the server's close frame and its teardown
  // wait for the tail, and the client's close handshake ends cleanly.
  std::string frame2 = filled(256 * 1024, 'A');
  server.write(net::buffer(frame2), ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(sock.holds_tail());
  flushed.reset();
  sock.async_flush([&](error_code e, std::size_t) { flushed = e; });
  beast::flat_buffer server_in;
  std::optional<error_code> server_read, closed;
  server.async_read(server_in, [&](error_code e, std::size_t) { server_read = e; });
  client.async_close(websocket::close_code::normal, [&](error_code e) { closed = e; });
  p.run_until([&] { return server_read && closed && flushed; });
  EXPECT_FALSE(*closed) << closed->message();
  EXPECT_EQ(*server_read, websocket::error::closed);
  EXPECT_FALSE(*flushed);
}

}  // namespace
}  // namespace sg::io
