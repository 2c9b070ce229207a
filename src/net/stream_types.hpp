// The two transports a session runs on: plain TCP, and TLS over TCP.
#pragma once

#include "core/asio.hpp"

#include <boost/beast/ssl.hpp>

#include <type_traits>

namespace sg::io {

using plain_stream = beast::tcp_stream;
using tls_stream = beast::ssl_stream<beast::tcp_stream>;

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
  using type = tcp::socket;
  static tcp::socket take(plain_stream& s) { return s.release_socket(); }
};
template <class Stream>
using ws_transport_t = typename ws_transport<Stream>::type;

}  // namespace sg::io
