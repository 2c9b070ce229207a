// HTTP messages (requests, responses, their fields, verbs and statuses) without Beast's parsers,
// serializers, streams or WebSocket: for code that builds or reads a message but does no I/O.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

namespace sg {
namespace beast = boost::beast;
namespace http = boost::beast::http;
}  // namespace sg
