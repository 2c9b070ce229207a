// HTTP/1.1 keep-alive sessions; SSE responses are chunked so the connection survives the stream.
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

#include <boost/beast/core/buffers_range.hpp>
#include <span>

namespace sg::io {
namespace {
constexpr auto write_timeout = std::chrono::seconds(30);
constexpr auto sse_write_timeout = std::chrono::seconds(60);
constexpr std::size_t sse_events_per_write = 64;  // a backlog goes out in chunks of at most this many events
// The buffer a formatted response's events are written from is kept between writes up to this size.
constexpr std::size_t sse_formatted_keep_bytes = 16 * 1024;
constexpr char last_chunk[] = "0\r\n\r\n";  // the end of a chunked body, without trailers
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
  auto caller = gateway::check_caller(app_, req, t, api, source_ip_);
  if (caller.refusal) {
    send(std::move(*caller.refusal));
    return;
  }
  auto who = std::move(caller.who);
  bool bearer_subprotocol = caller.bearer_subprotocol;
  issued_key_ = std::move(caller.issued_key);
  who_ = who;
  limit_key_ = who.limit_key(ip_key_);

  if (websocket::is_upgrade(req)) {
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

// The OpenAI-compatible routes; a streamed completion reuses the SSE write loop with its own format.
template <class Stream>
void basic_http_session<Stream>::openai_request(const gateway::request& req, const gateway::target& t) {
  auto self = this->shared_from_this();
  auto ex = stream_.get_executor();
  gateway::openai_api::handle(
      app_, req, t, who_.owner(), limit_key_, ex,
      [self, ex](gateway::response res) {
        net::post(ex, [self, res = std::move(res)]() mutable { self->send(std::move(res)); });
      },
      [self, req](std::shared_ptr<stream::stream> s, gateway::openai_api::event_formatter f) {
        self->sse_format_ = std::move(f);
        self->sse_cancel_on_close_ = true;
        self->begin_sse(req, std::move(s), 0);
      },
      // A non-streamed completion has no other reader either: a client that leaves before the answer
      // cancels it, so nobody pays for an answer that nobody will read.
      [self](std::shared_ptr<stream::stream> s) {
        self->awaited_stream_ = std::move(s);
        // The answer may take longer than any request deadline: only the response's write is timed.
        beast::get_lowest_layer(self->stream_).expires_never();
        self->watch_client();
      });
}

// POST /v1/streams: with Accept: text/event-stream the answer is the stream itself, else 202.
template <class Stream>
void basic_http_session<Stream>::start_stream(const gateway::request& req) {
  gateway::start_stream(app_, req, who_, limit_key_, stream_.get_executor(),
                        [self = this->shared_from_this(), req](gateway::sse_plan plan) {
                          if (plan.answer) self->send(std::move(*plan.answer));
                          else self->begin_sse(req, std::move(plan.s), 0);
                        });
}

// GET /v1/streams/{id}/events: resume after Last-Event-ID or ?lastSeq=N.
template <class Stream>
void basic_http_session<Stream>::resume_stream(const gateway::request& req, const std::string& id, const gateway::target& t) {
  gateway::resume_stream(app_, req, t, id, who_, stream_.get_executor(),
                         [self = this->shared_from_this(), req](gateway::sse_plan plan) {
                           if (plan.answer) self->send(std::move(*plan.answer));
                           else self->begin_sse(req, std::move(plan.s), plan.after);
                         });
}

template <class Stream>
void basic_http_session<Stream>::begin_sse(const gateway::request& req, std::shared_ptr<stream::stream> s, std::uint64_t after) {
  sse_ = true;
  sse_keep_alive_ = req.keep_alive();
  sse_stream_ = std::move(s);
  sse_last_seq_ = after;
  app_.stats.sse_open.fetch_add(1, std::memory_order_relaxed);
  sse_res_.emplace(gateway::sse_header(req, sse_stream_->id(), issued_key_, secure_, cors_origin_));
  sse_sr_.emplace(*sse_res_);
  // A cluster node's drain ends a resumable response, so EventSource reconnects to another node (a
  // completion, which cannot resume, runs to its end here).
  if (!sse_cancel_on_close_)
    app_.sse_responses.add(this, [w = this->weak_from_this(), ex = stream_.get_executor()] {
      net::post(ex, [w] {
        if (auto self = w.lock()) self->end_sse(false);
      });
    });
  // The header is not written on its own: it goes out in front of the first chunk of the body (the
  // replay, written below), one send and one segment for both. If there is nothing to write yet, it
  // goes out alone (send_held_head).
  sse_head_.clear();
  sse_sr_->split(true);
  error_code ec;
  while (!sse_sr_->is_header_done() && !ec) {
    sse_sr_->next(ec, [&](error_code&, const auto& buffers) {
      for (auto b : beast::buffers_range_ref(buffers)) sse_head_.append(static_cast<const char*>(b.data()), b.size());
      sse_sr_->consume(beast::buffer_bytes(buffers));
    });
  }
  if (ec) {
    end_sse(false);
    return;
  }
  sse_head_held_ = true;
  // The request's read deadline no longer applies; each write below sets its own.
  beast::get_lowest_layer(stream_).expires_never();
  // Subscribing replays the log after sse_last_seq_, then continues live.
  using result = stream::stream::subscribe_result;
  sse_replaying_ = true;
  auto r = sse_stream_->subscribe(this->shared_from_this(), sse_last_seq_);
  sse_replaying_ = false;
  if (r == result::past_end || r == result::beyond_end || r == result::not_retained) {
    // Nothing will follow (the stream ended in between, or its log was trimmed): end the body now
    // rather than send heartbeats forever. An ended stream's replay otherwise ends with its
    // terminal event, which ends the response.
    sse_ending_ = true;
    sse_write();
    return;
  }
  // The read that watches the client starts before any write sets a deadline: it has none.
  if (sse_cancel_on_close_) watch_client();
  sse_write();  // the replay
  send_held_head();
  arm_heartbeat();
}

// The header alone, when no chunk took it along (a resume with nothing new yet, or a first event
// that writes nothing in its format). Chunks queued meanwhile wait for it (sse_write).
template <class Stream>
void basic_http_session<Stream>::send_held_head() {
  if (!sse_ || !sse_head_held_ || pump_.writing() || sse_head_writing_) return;
  sse_head_writing_ = true;
  beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
  net::async_write(stream_, net::buffer(sse_head_), [self = this->shared_from_this()](error_code ec, std::size_t) {
    self->sse_head_writing_ = false;
    if (!self->sse_) return;
    beast::get_lowest_layer(self->stream_).expires_never();
    if (ec) {
      self->end_sse(false);
      return;
    }
    self->sse_head_held_ = false;
    std::string().swap(self->sse_head_);
    self->sse_write();
  });
}

// A pending read sees a client that leaves mid-answer at once, so its upstream request is cancelled
// rather than left generating. The read timer stays disarmed: only the writes carry timeouts.
template <class Stream>
void basic_http_session<Stream>::watch_client() {
  watching_ = true;
  stream_.async_read_some(buffer_.prepare(1024), [self = this->shared_from_this()](error_code ec, std::size_t n) {
    self->watching_ = false;
    if (!ec) self->buffer_.commit(n);  // a pipelined request: kept for the next read
    if (self->read_after_watch_) {
      self->read_after_watch_ = false;
      if (!ec || ec == net::error::operation_aborted) self->do_read();
      else self->do_close();
      return;
    }
    if (ec && self->sse_) self->end_sse(false);
    if (ec && ec != net::error::operation_aborted && self->awaited_stream_) {
      gateway::abandon_stream(self->app_, self->awaited_stream_->id());
      self->awaited_stream_.reset();
    }
  });
}

template <class Stream>
void basic_http_session<Stream>::deliver(proto::event_ptr ev) {
  // On its own thread (subscribe's replay, its own stream) the event is queued at once: a post made
  // here runs after later posts of other threads, so live events would overtake the replay.
  if (core::running_in(stream_.get_executor())) {
    sse_enqueue(std::move(ev));
    return;
  }
  net::post(stream_.get_executor(), [self = this->shared_from_this(), ev = std::move(ev)]() mutable {
    self->sse_enqueue(std::move(ev));
  });
}

template <class Stream>
void basic_http_session<Stream>::sse_enqueue(proto::event_ptr ev) {
  if (!sse_ || sse_done_ || sse_ending_ || sse_overflow_) return;
  if (ev->seq != 0) {
    if (ev->seq <= sse_last_seq_) return;
    sse_last_seq_ = ev->seq;
  }
  bool terminal = ev->terminal();
  if (pump_.push(std::move(ev)) == outbound_queue::push_result::overflow) {
    core::log_info("sse client too slow", {{"streamId", sse_stream_->id()}, {"sourceIp", source_ip_}});
    end_sse_from_handler();
    return;
  }
  if (terminal) sse_ending_ = true;  // the response ends after this event is written
  if (!sse_replaying_) sse_write();
}

// Every waiting event goes out in one chunk of the body (one send for a backlog or a replay).
// On a plain connection the chunk is written at once, without blocking: it nearly always fits the
// socket's buffer, and then no write operation, timer or completion handler is made for it (an
// asynchronous write that completes at once still posts its completion, a scheduler trip and a
// non-blocking epoll_wait). Whatever does not fit goes out asynchronously, under the write timeout,
// and so does a batch whose oldest event is a paced token already late (outbound_pump::late).
template <class Stream>
void basic_http_session<Stream>::sse_write() {
  for (;;) {
    if (pump_.writing() || sse_done_ || sse_head_writing_) return;
    auto& batch = pump_.begin_write(sse_events_per_write);
    if (batch.empty()) {
      if (sse_ending_) {
        // Terminal event written: end the chunked body, keep the connection for the next request.
        sse_done_ = true;
        sse_buffers_.clear();
        if (sse_head_held_) sse_buffers_.push_back(take_held_head());
        sse_buffers_.push_back(net::buffer(last_chunk, sizeof last_chunk - 1));
        beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
        net::async_write(stream_, std::span<const net::const_buffer>(sse_buffers_),
                         beast::bind_front_handler(&basic_http_session::on_sse_write, this->shared_from_this(), true));
      }
      return;
    }
    sse_buffers_.clear();
    if (sse_head_held_) sse_buffers_.push_back(take_held_head());  // the header, in front of the first chunk
    const std::size_t size_line = sse_buffers_.size();
    sse_buffers_.emplace_back();  // the chunk's size line, once its size is known
    if (sse_format_) {
      // A big batch (a replay) does not leave its buffer held for the rest of the response.
      if (sse_formatted_.capacity() > sse_formatted_keep_bytes) std::string().swap(sse_formatted_);
      sse_formatted_.clear();
      for (auto& ev : batch) sse_format_(*ev, sse_formatted_);
      if (!sse_formatted_.empty()) sse_buffers_.push_back(net::buffer(sse_formatted_));
    } else {
      for (auto& ev : batch) sse_buffers_.push_back(net::buffer(ev->sse()));
    }
    if (sse_buffers_.size() == size_line + 1) {
      // Nothing to write for these events (progress, in the completions format): an empty chunk
      // would end the body.
      if (size_line) sse_head_held_ = true;  // still to be sent
      pump_.end_write(false);
      net::post(stream_.get_executor(), [self = this->shared_from_this()] {
        self->sse_write();
        self->send_held_head();
      });
      return;
    }
    // The chunk's frame around its data, as a flat list of buffers (net/chunk_frame.hpp). A span: the
    // write's state copies the buffer sequence, and a copy of a vector is an allocation.
    sse_buffers_[size_line] = write_chunk_size(
        sse_chunk_size_, net::buffer_size(std::span<const net::const_buffer>(sse_buffers_).subspan(size_line + 1)));
    sse_buffers_.push_back(chunk_end());
    std::span<const net::const_buffer> chunk(sse_buffers_);
    // A paced token already well past its due time means the shard is behind its pacer: the chunk
    // goes out asynchronously, and the tokens made before its completion merge behind it.
    if constexpr (std::is_same_v<Stream, plain_stream>) {
      if (!outbound_pump::late(*batch.front())) {
        auto& sock = beast::get_lowest_layer(stream_).socket();
        error_code ec;
        if (!sock.non_blocking()) sock.non_blocking(true, ec);
        std::size_t n = ec ? 0 : sock.write_some(chunk, ec);
        if (ec && (ec == net::error::would_block || ec == net::error::try_again)) ec = {};
        if (ec) {
          pump_.end_write(false);
          end_sse_from_handler();
          return;
        }
        if (n == beast::buffer_bytes(chunk)) {
          pump_.end_write(true);
          if (size_line) std::string().swap(sse_head_);  // sent
          continue;  // anything queued meanwhile, or the end of the body
        }
        beast::buffers_suffix<decltype(chunk)> rest(chunk);
        rest.consume(n);
        beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
        net::async_write(stream_, rest,
                         beast::bind_front_handler(&basic_http_session::on_sse_write, this->shared_from_this(), false));
        return;
      }
    }
    beast::get_lowest_layer(stream_).expires_after(sse_write_timeout);
    net::async_write(stream_, chunk,
                     beast::bind_front_handler(&basic_http_session::on_sse_write, this->shared_from_this(), false));
    return;
  }
}

template <class Stream>
void basic_http_session<Stream>::on_sse_write(bool last, error_code ec, std::size_t) {
  if (last) {
    std::string().swap(sse_head_);  // the last write is done: nothing reads these bytes any more
    end_sse(!ec && sse_keep_alive_);
    return;
  }
  pump_.end_write(!ec);
  if (ec) {
    end_sse(false);
    return;
  }
  if (!sse_head_held_) std::string().swap(sse_head_);  // sent with this chunk, if it was still here
  sse_write();
}

template <class Stream>
void basic_http_session<Stream>::arm_heartbeat() {
  heartbeat_.expires_after(std::chrono::milliseconds(app_.cfg.sse_heartbeat_ms));
  heartbeat_.async_wait([self = this->shared_from_this()](error_code ec) {
    if (ec || !self->sse_ || self->sse_done_) return;
    if (self->pump_.empty()) {
      self->pump_.push(proto::heartbeat_event());
      self->sse_write();
    }
    self->arm_heartbeat();
  });
}

template <class Stream>
void basic_http_session<Stream>::end_sse_from_handler() {
  sse_overflow_ = true;
  pump_.clear_waiting();
  net::post(stream_.get_executor(), [self = this->shared_from_this()] { self->end_sse(false); });
}

template <class Stream>
void basic_http_session<Stream>::end_sse(bool keep_alive) {
  if (!sse_) return;
  sse_ = false;
  sse_done_ = false;
  sse_ending_ = false;
  sse_overflow_ = false;
  heartbeat_.cancel();
  app_.sse_responses.remove(this);
  if (sse_cancel_on_close_ && sse_stream_ && !sse_stream_->ended()) gateway::abandon_stream(app_, sse_stream_->id());
  sse_cancel_on_close_ = false;
  sse_format_ = nullptr;
  std::string().swap(sse_formatted_);
  if (sse_stream_) sse_stream_->unsubscribe(this);
  sse_stream_.reset();
  pump_.clear_waiting();
  sse_sr_.reset();
  sse_res_.reset();
  sse_head_held_ = false;  // its bytes stay until the next response: a write in flight may hold them
  app_.stats.sse_open.fetch_sub(1, std::memory_order_relaxed);
  if (keep_alive && !pump_.writing() && watching_) {
    // The watching read still holds the socket: cancel it, and read the next request when it returns.
    read_after_watch_ = true;
    error_code ec;
    beast::get_lowest_layer(stream_).socket().cancel(ec);
  } else if (keep_alive && !pump_.writing()) {
    do_read();
  } else {
    if (watching_) {
      // No read may be pending while a TLS shutdown runs.
      error_code ec;
      beast::get_lowest_layer(stream_).socket().cancel(ec);
    }
    beast::get_lowest_layer(stream_).expires_never();
    do_close();
  }
}

template class basic_http_session<plain_stream>;
template class basic_http_session<tls_stream>;

}  // namespace sg::io
