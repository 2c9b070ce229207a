// The WebSocket opening handshake of a plain connection, answered without Beast's response message.
//
// Beast's accept builds its 101 as an http::response (an allocation per field, each name looked up
// as a string), serializes it through its buffer-sequence views and writes it with a composed
// operation and a handshake timer: 19 k instructions of the 80 k a connection costs from accept to
// "connected". The request is still Beast's (parsed by its HTTP parser); what is done here is the
// answer. Its bytes are those Beast's accept writes for the same request with the session's
// decorator, field for field (tests/net/ws_accept_test.cpp checks them against Beast's own), and a
// request Beast would refuse, or answer with a 100 Continue first, is left to Beast's accept.
//
// Opening the stream without its accept reaches into Beast's stream (its private `impl_`, whose
// `open` its accept calls once the 101 is written): written against Boost 1.81, as accept_op.hpp is.
#pragma once

#include "net/stream_types.hpp"

#include <string>
#include <string_view>

namespace sg::io {

/// What the session's decorator adds to a 101, beside the Server field.
struct handshake_answer {
  std::string_view set_cookie;      // a Set-Cookie field's value (a new anonymous identity), or empty
  bool bearer_subprotocol = false;  // Sec-WebSocket-Protocol: bearer
};

/// The Sec-WebSocket-Key of `req` if Beast's accept would answer it with a 101 straight away: an
/// HTTP/1.1 GET with a Host, "upgrade" among Connection's tokens and "websocket" among Upgrade's,
/// a key of at most 24 characters, version 13, and no Expect. Empty otherwise.
std::string_view key_to_accept_at_once(const http::request<http::string_body>& req);

/// The session's decorator: what `a` adds to the answers Beast's accept writes (its 101, and its
/// refusals). append_switching_protocols writes the same fields in the same order.
void decorate_answer(websocket::response_type& res, const handshake_answer& a);

/// Appends the 101 Beast's accept writes for `key` with decorate_answer as its decorator.
void append_switching_protocols(std::string& out, std::string_view key, const handshake_answer& a);

/// Answers the handshake of `req` (key_to_accept_at_once gave `key`) and opens `ws` as a server, as
/// Beast's accept does once its 101 is written. The 101 is held in the socket: the next write takes
/// it along, or async_flush sends it.
void accept_at_once(websocket::stream<ws_socket>& ws, std::string_view key, const handshake_answer& a);

}  // namespace sg::io
