// HTTP/1.1 keep-alive sessions: reading requests, answering them, closing. Streamed responses (SSE and
// streamed completions, chunked so the connection survives the stream) are in sse_response.cpp.
#include "net/http_session.hpp"

#include "core/clock.hpp"
#include "core/log.hpp"
#include "core/net_address.hpp"
#include "core/ids.hpp"
#include "gateway/anonymous.hpp"
#include "gateway/integrations.hpp"
#include "gateway/route_messages.hpp"
#include "gateway/stream_routes.hpp"
#include "net/ws_session.hpp"


namespace sg::io {
namespace {
constexpr auto write_timeout = std::chrono::seconds(30);
constexpr auto tls_handshake_timeout = std::chrono::seconds(10);
// After a response that closes the connection, the client's unread bytes are drained this long so
// the close is a FIN, not a reset that could destroy the response before the client reads it.
constexpr auto linger_timeout = std::chrono::milliseconds(500);
constexpr std::uint32_t header_limit_bytes = 16 * 1024;
// A TLS close_notify exchange with a client that does not answer is abandoned after this.
constexpr auto tls_shutdown_timeout = std::chrono::seconds(5);
}  // namespace

template <class Stream>
basic_http_session<Stream>::basic_http_session(Stream&& stream, gateway::app& app, std::shared_ptr<void> tls_context,
                                               gateway::admission admission, accepted_peer peer)
    : tls_context_(std::move(tls_context)),
      stream_(std::move(stream)),
      app_(app),
      slot_(std::move(admission.slot)),
      refusal_(std::move(admission.refusal)),
      pump_(app.stats, {app.cfg.outbound_merge_bytes, app.cfg.outbound_max_bytes, true}),
      heartbeat_(stream_.get_executor()) {
  peer_ = peer.address;
  source_ip_ = std::move(peer.names.text);
  ip_key_ = std::move(peer.names.limit_key);
  peer_is_proxy_ = peer.is_proxy;
  // TCP_NODELAY and the configured send buffer come with the socket, inherited from the listener's.
}

template <class Stream>
basic_http_session<Stream>::~basic_http_session() = default;

template <class Stream>
void basic_http_session<Stream>::run() {
  // Start on the session's strand: the acceptor's handler runs elsewhere.
  net::dispatch(stream_.get_executor(), [self = this->shared_from_this()] {
    if (self->refusal_) {
      self->refuse();
      return;
    }
    if constexpr (is_tls_v<Stream>) {
      beast::get_lowest_layer(self->stream_).expires_after(tls_handshake_timeout);
      self->stream_.async_handshake(net::ssl::stream_base::server, self->buffer_.data(),
                                    beast::bind_front_handler(&basic_http_session::on_handshake, self));
    } else {
      self->do_read();
    }
  });
}

template <class Stream>
void basic_http_session<Stream>::on_handshake(error_code ec, std::size_t used) {
  if (ec) return;  // a failed handshake (plain HTTP to the TLS port, a scanner) just ends
  buffer_.consume(used);
  do_read();
}

// A connection refused at accept gets one answer (429, or 503 at capacity) and is closed; nothing it
// sent is parsed.
template <class Stream>
void basic_http_session<Stream>::refuse() {
  gateway::request req;
  req.version(11);
  auto res = gateway::error_response(req, *refusal_);
  res.keep_alive(false);
  send(std::move(res));
}

// The header has its own deadline (slowloris), and so has the body once the header is in; an idle
// keep-alive connection waits for its next header under the same deadline.
template <class Stream>
void basic_http_session<Stream>::do_read() {
  issued_key_.clear();
  parser_.emplace();
  parser_->body_limit(app_.cfg.max_message_bytes);
  parser_->header_limit(header_limit_bytes);
  beast::get_lowest_layer(stream_).expires_after(std::chrono::milliseconds(app_.cfg.header_timeout_ms));
  http::async_read_header(stream_, buffer_, *parser_,
                          beast::bind_front_handler(&basic_http_session::on_read_header, this->shared_from_this()));
}

template <class Stream>
void basic_http_session<Stream>::on_read_header(error_code ec, std::size_t bytes) {
  if (ec || parser_->is_done()) {
    on_read(ec, bytes);
    return;
  }
  beast::get_lowest_layer(stream_).expires_after(std::chrono::milliseconds(app_.cfg.body_timeout_ms));
  http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&basic_http_session::on_read, this->shared_from_this()));
}

template <class Stream>
void basic_http_session<Stream>::on_read(error_code ec, std::size_t) {
  if (ec == http::error::end_of_stream || ec == net::error::connection_reset || ec == net::error::eof ||
      ec == net::ssl::error::stream_truncated) {
    do_close();
    return;
  }
  if (ec == beast::error::timeout) {
    // The stream already closed the socket: a slow (or idle) client costs nothing more.
    app_.stats.request_timeouts.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (ec) {
    // Malformed HTTP gets one clear answer, then the connection closes (the parser state is lost).
    gateway::request req;
    req.version(11);
    proto::error_code code = ec == http::error::body_limit ? proto::error_code::payload_too_large
                                                            : proto::error_code::bad_request;
    auto res = gateway::error_response(req, code, ec == http::error::body_limit
                                                      ? "request body exceeds " + std::to_string(app_.cfg.max_message_bytes) + " bytes"
                                                      : "malformed HTTP request: " + ec.message());
    res.keep_alive(false);
    send(std::move(res));
    return;
  }
  app_.stats.http_requests.fetch_add(1, std::memory_order_relaxed);
  handle_request(parser_->release());
}


// The client is the socket's peer, unless that peer is a trusted proxy: then the forwarding headers
// name it. Per request, since a proxy multiplexes many clients over one keep-alive connection.
template <class Stream>
void basic_http_session<Stream>::identify_client(const gateway::request& req) {
  secure_ = is_tls_v<Stream>;
  const auto& trusted = app_.sec->trusted_proxies();
  if (trusted.empty()) return;
  auto forwarded = gateway::joined_header(req, "Forwarded");
  auto client = core::client_address(peer_, trusted, forwarded, gateway::joined_header(req, "X-Forwarded-For"));
  auto names = core::names_of(client);
  source_ip_ = std::move(names.text);
  ip_key_ = std::move(names.limit_key);
  if (peer_is_proxy_ && core::forwarded_proto(forwarded, gateway::joined_header(req, "X-Forwarded-Proto")) == "https")
    secure_ = true;
}

template <class Stream>
void basic_http_session<Stream>::handle_request(gateway::request req) {
  auto t = gateway::parse_target(req.target());
  if (!t.valid) {
    send(gateway::error_response(req, proto::error_code::bad_request, "malformed request target"));
    return;
  }
  bool api = gateway::is_api(t);
  if (auto refusal = gateway::screen_request(app_, req, api)) {
    send(std::move(*refusal));
    return;
  }
  identify_client(req);
  // A trusted proxy's connection was admitted at accept without per-address limits (it carries many
  // clients): its client's new-connection rate is taken here, once per TCP connection.
  if (peer_is_proxy_ && !client_rate_checked_) {
    client_rate_checked_ = true;
    if (auto wait = app_.connection_rate.take(ip_key_)) {
      app_.stats.rate_limited_connections.fetch_add(1, std::memory_order_relaxed);
      auto res = gateway::error_response(
          req, proto::error_info{proto::error_code::rate_limited, "too many new connections from " + source_ip_, true,
                                 wait, {}});
      res.keep_alive(false);
      send(std::move(res));
      return;
    }
  }
  cors_origin_ = app_.sec->cors_origin(req);
  // Beast's is_upgrade reads two headers as token lists (about 1,500 instructions): asked once.
  bool wants_upgrade = websocket::is_upgrade(req);
  auto caller = gateway::check_caller(app_, req, t, api, wants_upgrade, source_ip_);
  if (caller.refusal) {
    send(std::move(*caller.refusal));
    return;
  }
  auto who = std::move(caller.who);
  bool bearer_subprotocol = caller.bearer_subprotocol;
  issued_key_ = std::move(caller.issued_key);
  who_ = who;
  limit_key_ = who.limit_key(ip_key_);

  if (wants_upgrade) {
    if (t.path != "/ws" && t.path != "/ws/") {
      send(gateway::error_response(req, proto::error_code::not_found, "WebSocket endpoint is /ws"));
      return;
    }
    upgrade(std::move(req), std::move(who), bearer_subprotocol);
    return;
  }
  if (gateway::openai_api::handles(t)) {
    openai_request(req, t);
    return;
  }
  if (t.path == "/v1/streams" && req.method() == http::verb::post) {
    start_stream(req);
    return;
  }
  if (t.segments.size() == 4 && t.segments[0] == "v1" && t.segments[1] == "streams" && t.segments[3] == "events") {
    if (req.method() != http::verb::get) {
      send(gateway::error_response(req, proto::error_code::bad_request, "use GET for the event stream"));
      return;
    }
    resume_stream(req, t.segments[2], t);
    return;
  }
  auto self = this->shared_from_this();
  auto ex = stream_.get_executor();
  gateway::request_context ctx{who, source_ip_};
  bool handled = gateway::handle_api(app_, req, t, ctx, [self, ex](gateway::response res) {
    net::post(ex, [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
  });
  if (!handled) send(gateway::static_response(app_, req, t));
}

template <class Stream>
void basic_http_session<Stream>::send(gateway::response res) {
  if (!issued_key_.empty()) res.set(http::field::set_cookie, gateway::anonymous::set_cookie(issued_key_, secure_));
  if (cors_origin_) {
    res.set(http::field::access_control_allow_origin, *cors_origin_);
    res.set(http::field::vary, "Origin");
    res.set(http::field::access_control_expose_headers, "X-Stream-Id, Location, Retry-After");
  }
  awaited_stream_.reset();  // the answer is going out: a client that leaves now cancels nothing
  res.prepare_payload();
  bool close = res.need_eof();
  auto sp = std::make_shared<gateway::response>(std::move(res));
  beast::get_lowest_layer(stream_).expires_after(write_timeout);
  http::async_write(stream_, *sp,
                    [self = this->shared_from_this(), sp, close](error_code ec, std::size_t n) {
                      self->on_write(close, ec, n);
                    });
}

template <class Stream>
void basic_http_session<Stream>::on_write(bool close, error_code ec, std::size_t) {
  if (ec) return;
  if (watching_) {
    // The read that watched for a leaving client is still pending: stop it first, and read the next
    // request once it has returned (two reads may never run at once).
    error_code ignored;
    beast::get_lowest_layer(stream_).socket().cancel(ignored);
    if (!close) {
      read_after_watch_ = true;
      return;
    }
  }
  if (close) {
    do_close();
    return;
  }
  do_read();
}

template <class Stream>
void basic_http_session<Stream>::do_close() {
  if constexpr (is_tls_v<Stream>) {
    beast::get_lowest_layer(stream_).expires_after(tls_shutdown_timeout);
    stream_.async_shutdown(beast::bind_front_handler(&basic_http_session::on_shutdown, this->shared_from_this()));
  } else {
    error_code ec;
    beast::get_lowest_layer(stream_).socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) {
      beast::get_lowest_layer(stream_).close();
      return;
    }
    beast::get_lowest_layer(stream_).expires_after(linger_timeout);
    linger({});
  }
}

// Reads and drops what the client still sends until it closes too (or the deadline passes).
template <class Stream>
void basic_http_session<Stream>::linger(error_code ec) {
  if (ec) {
    beast::get_lowest_layer(stream_).close();
    return;
  }
  beast::get_lowest_layer(stream_).async_read_some(
      net::buffer(linger_buf_), [self = this->shared_from_this()](error_code ec, std::size_t) { self->linger(ec); });
}

template <class Stream>
void basic_http_session<Stream>::on_shutdown(error_code) {
  beast::get_lowest_layer(stream_).close();
}

template class basic_http_session<plain_stream>;
template class basic_http_session<tls_stream>;

}  // namespace sg::io
