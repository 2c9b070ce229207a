// Sockets, HTTP and WebSocket: the transport's headers and their namespace aliases. Code that needs
// only an executor or a timer includes core/executor.hpp; code that only builds HTTP messages,
// core/http_message.hpp.
#pragma once

#include "core/executor.hpp"
#include "core/http_message.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace sg {
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
}  // namespace sg
