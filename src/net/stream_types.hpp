// The two transports a session runs on: plain TCP, and TLS over TCP.
#pragma once

#include "core/asio.hpp"

#include <boost/beast/ssl.hpp>

#include <type_traits>

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
  using type = shard_socket;
  static shard_socket take(plain_stream& s) { return s.release_socket(); }
};
template <class Stream>
using ws_transport_t = typename ws_transport<Stream>::type;

}  // namespace sg::io
