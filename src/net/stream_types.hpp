// The two transports a session runs on: plain TCP, and TLS over TCP.
#pragma once

#include "core/asio.hpp"

#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <sys/socket.h>

#include <type_traits>
#include <utility>

namespace sg::io {

/// What a connection's handlers run on: the io_context of its shard, run by one thread. Named as the
/// concrete type, not as any_io_executor: every operation on a socket copies, moves and destroys its
/// executor several times (work guards, completion handlers), and through any_io_executor each of
/// those is a call through a function table.
using shard_executor = net::io_context::executor_type;
using shard_socket = net::basic_stream_socket<tcp, shard_executor>;
using plain_stream = beast::basic_stream<tcp, shard_executor, beast::unlimited_rate_policy>;
using tls_stream = beast::ssl_stream<plain_stream>;

template <class Stream>
inline constexpr bool is_tls_v = std::is_same_v<Stream, tls_stream>;

/// A plain WebSocket's socket: Asio's, except that its writes can be marked "more follows"
/// (MSG_MORE), so the kernel holds them until a write without the mark and sends both in one
/// segment. The 101 goes out so, joined by the "connected" frame written after it, without the two
/// TCP_CORK calls a TLS connection needs for the same.
class ws_socket : public shard_socket {
 public:
  explicit ws_socket(shard_socket&& s) : shard_socket(std::move(s)) {}
  void more_follows(bool on) { more_ = on; }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return async_send(buffers, more_ ? MSG_MORE : 0, std::forward<WriteToken>(token));
  }

 private:
  bool more_ = false;
};

// Beast closes a WebSocket through teardown functions found by argument-dependent lookup; a ws_socket
// is torn down as the socket it is.
inline void teardown(beast::role_type role, ws_socket& s, error_code& ec) {
  beast::websocket::teardown(role, static_cast<shard_socket&>(s), ec);
}
template <class TeardownHandler>
void async_teardown(beast::role_type role, ws_socket& s, TeardownHandler&& handler) {
  beast::websocket::async_teardown(role, static_cast<shard_socket&>(s), std::forward<TeardownHandler>(handler));
}

/// What a WebSocket runs on once upgraded: a plain connection's bare socket (Beast's WebSocket keeps
/// its own timers, so tcp_stream's timer state, 0.5 KiB a connection, would sit unused), a TLS stream
/// as it is (its TLS state is bound to it).
template <class Stream>
struct ws_transport {
  using type = Stream;
  static Stream take(Stream& s) { return std::move(s); }
};
template <>
struct ws_transport<plain_stream> {
  using type = ws_socket;
  static ws_socket take(plain_stream& s) { return ws_socket(s.release_socket()); }
};
template <class Stream>
using ws_transport_t = typename ws_transport<Stream>::type;

}  // namespace sg::io
