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

}  // namespace sg::io
