#include "net/ws_accept.hpp"

#include <boost/beast/websocket/detail/hybi13.hpp>
#include <boost/version.hpp>

namespace sg::io {

static_assert(BOOST_VERSION == 108100, "ws_accept.cpp opens Beast 1.81's WebSocket stream as its accept does");

namespace {

using ws_stream = websocket::stream<ws_socket>;

// Beast's stream keeps its state in a private member; an explicit instantiation may name it
// ([temp.spec.general]: access is not checked in its arguments), and the friend it defines hands it out.
template <auto Member>
struct stream_state_access {
  friend auto& stream_state(ws_stream& s) { return *(s.*Member); }
};
template struct stream_state_access<&ws_stream::impl_>;
auto& stream_state(ws_stream& s);

// http::token_list::exists, as Beast's accept asks it.
bool has_token(beast::string_view list, beast::string_view token) { return http::token_list{list}.exists(token); }

}  // namespace

std::string_view key_to_accept_at_once(const http::request<http::string_body>& req) {
  if (req.version() != 11 || req.method() != http::verb::get) return {};
  // One pass over the fields; each is judged by its first occurrence, as Beast's find() gives it.
  bool host = false, connection = false, upgrade = false, version = false;
  beast::string_view key;
  bool have_key = false;
  for (const auto& f : req) {
    switch (f.name()) {
      case http::field::host:
        host = true;
        break;
      case http::field::connection:
        if (!connection && !has_token(f.value(), "upgrade")) return {};
        connection = true;
        break;
      case http::field::upgrade:
        if (!upgrade && !has_token(f.value(), "websocket")) return {};
        upgrade = true;
        break;
      case http::field::sec_websocket_key:
        if (!have_key) key = f.value();
        have_key = true;
        break;
      case http::field::sec_websocket_version:
        if (!version && f.value() != "13") return {};
        version = true;
        break;
      case http::field::expect:
        return {};  // Beast may answer 100 Continue first
      default:
        break;
    }
  }
  if (!host || !connection || !upgrade || !version || key.empty() ||
      key.size() > websocket::detail::sec_ws_key_type::static_capacity)
    return {};
  return {key.data(), key.size()};
}

void decorate_answer(websocket::response_type& res, const handshake_answer& a) {
  res.set(http::field::server, "streamgate");
  if (!a.set_cookie.empty()) res.set(http::field::set_cookie, beast::string_view(a.set_cookie.data(), a.set_cookie.size()));
  // A browser that sent its token as "bearer, <token>" expects one of its subprotocols back.
  if (a.bearer_subprotocol) res.set(http::field::sec_websocket_protocol, "bearer");
}

void append_switching_protocols(std::string& out, std::string_view key, const handshake_answer& a) {
  websocket::detail::sec_ws_accept_type accept;
  websocket::detail::make_sec_ws_accept(accept, beast::string_view(key.data(), key.size()));
  out.append("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: upgrade\r\nSec-WebSocket-Accept: ");
  out.append(accept.data(), accept.size());
  out.append("\r\nServer: streamgate\r\n");
  if (!a.set_cookie.empty()) {
    out.append("Set-Cookie: ");
    out.append(a.set_cookie);
    out.append("\r\n");
  }
  if (a.bearer_subprotocol) out.append("Sec-WebSocket-Protocol: bearer\r\n");
  out.append("\r\n");
}

void accept_at_once(ws_stream& ws, std::string_view key, const handshake_answer& a) {
  std::string answer;
  // Room for the "connected" frame that joins it in the socket (about 80 bytes): one allocation.
  answer.reserve(160 + a.set_cookie.size() + 128);
  append_switching_protocols(answer, key, a);
  ws.next_layer().hold(std::move(answer));
  // What Beast's accept does after its 101 is written: no extension was offered back, so its
  // permessage-deflate settings (off in streamgate) are left as a new stream has them.
  stream_state(ws).open(beast::role_type::server);
}

}  // namespace sg::io
