// The WebSocket session: the handshake, the read loop, the write loop and the close, on one
// executor; what a message means is its gateway handler's business.
#include "net/ws_session.hpp"

#include "core/clock.hpp"
#include "core/heap_prefault.hpp"
#include "core/log.hpp"
#include "net/late_writes.hpp"
#include "net/ws_accept.hpp"

#include <boost/asio/bind_allocator.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace sg::io {
namespace {
// Plain operator new and delete, which Asio does not route through its per-thread block cache.
template <class T>
struct exact_allocator {
  using value_type = T;
  exact_allocator() = default;
  template <class U>
  exact_allocator(const exact_allocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  template <class U>
  bool operator==(const exact_allocator<U>&) const noexcept { return true; }
};
// Beast's deadline for the opening handshake and for the closing one.
constexpr auto ws_handshake_timeout = std::chrono::seconds(10);
}  // namespace

template <class Stream>
basic_ws_session<Stream>::basic_ws_session(Stream&& stream, gateway::app& app, std::shared_ptr<void> tls_context)
    : tls_context_(std::move(tls_context)),
      ws_(std::move(stream)),
      app_(app),
      pump_(app.stats, {app.cfg.outbound_merge_bytes, app.cfg.outbound_max_bytes}),
      handler_(app, *this) {}

template <class Stream>
basic_ws_session<Stream>::~basic_ws_session() {
  // Let go on its own thread when it closed or finished; this is only the last resort.
  unwatch();
}

template <class Stream>
void basic_ws_session<Stream>::unwatch() {
  if (watched()) idle_watch::of(ws_.get_executor()).remove(*this);
}

template <class Stream>
void basic_ws_session<Stream>::run(http::request<http::string_body> req, gateway::principal who, bool bearer_subprotocol,
                                   client c, std::shared_ptr<void> slots) {
  core::prefault_heap_after(this, sizeof(*this));
  slots_ = std::move(slots);
  handler_.begin({.who = std::move(who),
                  .source_ip = std::move(c.source_ip),
                  .limit_key = std::move(c.limit_key),
                  .user_agent = std::string(req[http::field::user_agent].substr(0, 512)),
                  .connection_id = std::move(c.connection_id),
                  .context_json = std::move(c.context_json),
                  .admitted_by_route = c.admitted_by_route});
  last_active_ = handler_.identity().connected_at_ms;

  // Beast's timer serves the opening and closing handshakes only. Silence is the shard's idle
  // watch's business (net/idle_watch.hpp): anything heard from the client, a control frame included,
  // counts as a sign of life (the HTTP session turned its socket's deadline off before handing it
  // over; TCP_NODELAY came with the socket, from the listener).
  websocket::stream_base::timeout opt{};
  opt.handshake_timeout = ws_handshake_timeout;
  opt.idle_timeout = websocket::stream_base::none();
  opt.keep_alive_pings = false;
  ws_.set_option(opt);
  ws_.control_callback([this](websocket::frame_type, beast::string_view) { heard(std::chrono::steady_clock::now()); });
  ws_.read_message_max(app_.cfg.max_message_bytes);
  ws_.auto_fragment(false);
  if constexpr (!is_tls_v<Stream>) {
    // The usual upgrade is answered here, the 101 held in the socket as below (net/ws_accept.hpp);
    // any other is Beast's accept's to answer or refuse.
    if (auto key = key_to_accept_at_once(req); !key.empty()) {
      accept_at_once(ws_, key, {.set_cookie = c.set_cookie, .bearer_subprotocol = bearer_subprotocol});
      on_open();
      return;
    }
  }
  ws_.set_option(websocket::stream_base::decorator(
      [bearer_subprotocol, cookie = std::move(c.set_cookie)](websocket::response_type& res) {
        decorate_answer(res, {.set_cookie = cookie, .bearer_subprotocol = bearer_subprotocol});
      }));
  // The 101 and the "connected" frame that follows it leave in one segment: each segment on its own
  // costs a transmission and wakes the client once more. A plain socket holds the 101 and sends it
  // with the frame in one send call; a TLS connection's socket is corked until that frame's write
  // completes (on_write).
  hold_sends(true);
  ws_.async_accept(req, beast::bind_front_handler(&basic_ws_session::on_accept, this->shared_from_this()));
}

template <class Stream>
void basic_ws_session<Stream>::on_accept(error_code ec) {
  // The 101 (or Beast's refusal) is written and held in the socket: the next write, the "connected"
  // frame that opened() queues, takes it along.
  if constexpr (!is_tls_v<Stream>) ws_.next_layer().more_follows(false);
  if (ec) {
    core::log(core::log_level::debug, "websocket handshake failed", {{"error", ec.message()}});
    handler_.closed(1006, "handshake failed");  // the $connect integration was told of it: tell it the end too
    send_held();  // Beast's refusal goes out before the connection ends
    return;
  }
  // The decorator served the 101 only: its Set-Cookie string is not kept for the connection's life.
  ws_.set_option(websocket::stream_base::decorator([](websocket::response_type&) {}));
  on_open();
}

// The 101 is held in the socket: the "connected" frame that opened() queues takes it along.
template <class Stream>
void basic_ws_session<Stream>::on_open() {
  handler_.opened(this->shared_from_this());
  send_held();
  if (app_.cfg.idle_timeout_ms > 0)
    idle_watch::of(ws_.get_executor()).add(*this, std::chrono::milliseconds(app_.cfg.idle_timeout_ms));
  await_first_read();
}

// A new connection's client has sent nothing yet: a read now would try the socket (a recvmsg that
// finds nothing) and then wait with Beast's read operation, 312 bytes, held as long as the
// connection stays idle. A plain connection instead waits for its socket to become readable, which
// tries nothing and holds only the wait, and reads once there is something to read. Only the first
// read: Beast holds nothing of the connection's bytes yet (the upgrade request was the HTTP
// session's), where later a frame may already wait in its buffer. A wait that fails (the idle
// watch closed the socket) ends the session as the read would have.
template <class Stream>
void basic_ws_session<Stream>::await_first_read() {
  if constexpr (is_tls_v<Stream>) {
    do_read();
  } else {
    ws_.next_layer().async_wait(
        shard_socket::wait_read,
        net::bind_allocator(exact_allocator<void>(),
                            beast::bind_front_handler(&basic_ws_session::on_readable, this->shared_from_this())));
  }
}

template <class Stream>
void basic_ws_session<Stream>::on_readable(error_code ec) {
  if (ec) on_read(ec, 0);
  else if (!finished_) do_read();
}

// Between messages the pending read holds no buffer of ours: a read into no bytes completes once
// the next message's first frame header is in (Beast keeps what came with it in its own frame
// buffer), and the message is then read whole into a buffer of its size (read_message_max bounds
// it), which is let go once the message is handled. An idle connection waits on Beast's state alone.
// The empty buffer points somewhere real: Beast's UTF-8 check of the (empty) text it copied reads
// from a null pointer as if it were data.
// The read's operations are allocated at their own size: through Asio's per-thread cache they would
// take whatever larger block the connection's HTTP reads had given back, and hold it while idle.
template <class Stream>
void basic_ws_session<Stream>::do_read() {
  static char nothing;
  auto done = net::bind_allocator(exact_allocator<void>(),
                                  beast::bind_front_handler(&basic_ws_session::on_read, this->shared_from_this()));
  if (buffer_.size() == 0 && ws_.is_message_done()) ws_.async_read_some(net::mutable_buffer(&nothing, 0), std::move(done));
  else ws_.async_read(buffer_, std::move(done));
}

// What the socket still holds of the handshake when no frame took it along is sent on its own; the
// flush's handler keeps the session until it is written.
template <class Stream>
void basic_ws_session<Stream>::send_held() {
  if constexpr (!is_tls_v<Stream>) {
    auto& sock = ws_.next_layer();
    if (sock.holds_held()) sock.async_flush([self = this->shared_from_this()](error_code, std::size_t) {});
  }
}

template <class Stream>
void basic_ws_session<Stream>::on_read(error_code ec, std::size_t) {
  if (ec) {
    // Oversize messages (1009) and invalid UTF-8 (1007) were already answered by Beast's close.
    if (ec == websocket::error::message_too_big) {
      set_cause("message_too_big");
      close_code_ = 1009;
    } else if (ec == websocket::error::bad_frame_payload) {
      set_cause("invalid_utf8");
      close_code_ = 1007;
    } else if (ec == websocket::error::closed) {
      if (!closing_) close_cause_.reset();  // "client"
      // The peer's code; a close frame without one is 1005 (RFC 6455 §7.1.5).
      auto peer = static_cast<std::uint16_t>(ws_.reason().code);
      if (!close_code_) close_code_ = peer ? peer : std::uint16_t{1005};
    } else if (ec == beast::error::timeout) set_cause("idle_timeout");
    else if (!closing_) set_cause(ec.message());
    finish();
    return;
  }
  heard(std::chrono::steady_clock::now());
  if (!ws_.is_message_done()) {
    do_read();  // the rest of the message (read_message_max bounds the whole of it)
    return;
  }
  last_active_.store(core::now_ms(), std::memory_order_relaxed);
  if (!ws_.got_text()) {
    handler_.on_binary();
  } else {
    auto data = buffer_.cdata();
    handler_.on_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
  }
  buffer_.clear();
  buffer_.shrink_to_fit();  // no storage is held between messages
  if (!closing_) do_read();
}

template <class Stream>
void basic_ws_session<Stream>::deliver(proto::event_ptr ev) {
  // The stream this connection started runs on its thread: its events go straight to the queue
  // (enqueue never calls back into a stream, so the stream's lock may be held). Others hop over.
  if (core::running_in(ws_.get_executor())) {
    enqueue(std::move(ev));
    return;
  }
  net::post(ws_.get_executor(), [self = this->shared_from_this(), ev = std::move(ev)]() mutable {
    self->enqueue(std::move(ev));
  });
}

template <class Stream>
void basic_ws_session<Stream>::send_frame(std::string text) {
  net::post(ws_.get_executor(), [self = this->shared_from_this(), text = std::move(text)]() mutable {
    self->enqueue(proto::make_raw(std::move(text)));
  });
}

static_assert(gateway::close_codes::normal == websocket::close_code::normal);

template <class Stream>
void basic_ws_session<Stream>::disconnect(std::uint16_t code, std::string reason) {
  net::post(ws_.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)]() mutable {
    self->close_now(code, std::move(reason));
  });
}

template <class Stream>
void basic_ws_session<Stream>::close_now(std::uint16_t code, std::string reason) {
  set_cause(reason.empty() ? std::string("server") : reason);
  close(websocket::close_reason(static_cast<websocket::close_code>(code), reason));
}

template <class Stream>
void basic_ws_session<Stream>::hold_writes(bool on) {
  holding_ = on;
  if (!on) do_write();
}

template <class Stream>
void basic_ws_session<Stream>::enqueue(proto::event_ptr ev, bool replay) {
  if (closing_ || finished_) return;
  if (!handler_.admit(*ev, replay)) return;
  if constexpr (!is_tls_v<Stream>) {
    // Nothing waits and nothing is being written: the event goes to the socket without the queue
    // (unless the shard is behind its pacer: then it waits in the queue for the late flush, see do_write).
    if (!holding_ && pump_.empty() && ws_.next_layer().writable_now() && ws_.is_open() &&
        ev->frame_bytes() <= app_.cfg.outbound_max_bytes && !outbound_pump::late(*ev)) {
      write_directly(std::move(ev));
      return;
    }
  }
  if (pump_.push(std::move(ev)) == outbound_queue::push_result::overflow) {
    // Too slow even with merging: close with 1008; the client can resume every stream it had.
    set_cause("slow_consumer");
    core::log_warn("slow consumer closed", {{"connectionId", handler_.identity().connection_id},
                                            {"queuedBytes", pump_.bytes()},
                                            {"limit", app_.cfg.outbound_max_bytes}});
    pump_.clear_waiting();
    close(websocket::close_reason(websocket::close_code::policy_error, "slow consumer: resume to continue"));
    return;
  }
  if (!holding_) do_write();
}

// A plain connection writes a frame at once through Beast's synchronous write, whose socket never
// blocks (ws_socket): the frame nearly always fits the socket's buffer, and then no write operation,
// completion or scheduler trip is made for it. What does not fit is written by the socket's flush,
// and the queue waits for it (its chunks merge meanwhile). While Beast writes a frame of its own
// (a pong, a ping) or the connection is closing, frames go through Beast's asynchronous write, which
// takes its turn after Beast's. A TLS connection always writes asynchronously.
// A queue whose front is a paced token already well past its due time (outbound_pump::late) is not
// written now: the shard is behind its pacer, so the connection notes itself with the shard's
// late_writes, and the tokens made before that flush runs merge in the queue; the flush then writes
// the queue at once. An overloaded shard so spends one send on several tokens and catches up.
// This may run with a stream's lock held (deliver): an error is handled from a posted handler, since
// ending the connection unsubscribes it.
template <class Stream>
void basic_ws_session<Stream>::do_write() {
  if (flushing_batched_) return;  // on_batched_flushed writes what waits
  for (;;) {
    if constexpr (!is_tls_v<Stream>) {
      auto* front = pump_.front();
      if (front && !late_flush_ && ws_.next_layer().writable_now() && ws_.is_open() && outbound_pump::late(*front)) {
        if (!late_noted_) {
          late_noted_ = true;
          late_writes::of(ws_.get_executor()).add([self = this->shared_from_this()] {
            self->late_noted_ = false;
            self->late_flush_ = true;
            self->do_write();
            self->late_flush_ = false;
          });
        }
        return;
      }
    }
    auto& batch = pump_.begin_write(1);
    if (batch.empty()) return;
    if constexpr (!is_tls_v<Stream>) {
      if (ws_.next_layer().writable_now() && ws_.is_open()) {
        if (!write_at_once(batch.front()->json()) || !after_write({})) return;
        continue;
      }
    }
    ws_.text(true);
    ws_.async_write(net::buffer(batch.front()->json()),
                    beast::bind_front_handler(&basic_ws_session::on_write, this->shared_from_this()));
    return;
  }
}

template <class Stream>
bool basic_ws_session<Stream>::write_at_once(const std::string& frame) {
  if constexpr (!is_tls_v<Stream>) {
    auto& sock = ws_.next_layer();
    ws_.text(true);
    error_code ec;
    {
      // Within a pacer's run the frame joins its send batch, in the batch's own buffer: the socket
      // keeps nothing and the frame counts as written; batch_shortfall hears of the rare one the
      // socket did not take whole.
      send_batch::offer batchable(&sock, {&basic_ws_session::batch_shortfall, this});
      ws_.write(net::buffer(frame), ec);
    }
    if (ec) {
      net::post(ws_.get_executor(), beast::bind_front_handler(&basic_ws_session::on_write, this->shared_from_this(), ec,
                                                              std::size_t{0}));
      return false;
    }
    if (!sock.holds_tail()) return true;
    sock.async_flush(beast::bind_front_handler(&basic_ws_session::on_write, this->shared_from_this()));
  }
  return false;
}

template <class Stream>
void basic_ws_session<Stream>::batch_shortfall(void* ctx, const error_code& ec) {
  if constexpr (!is_tls_v<Stream>) {
    auto* self = static_cast<basic_ws_session*>(ctx);
    if (ec) {  // as a write's error: from a handler of its own
      net::post(self->ws_.get_executor(), beast::bind_front_handler(&basic_ws_session::on_write, self->shared_from_this(),
                                                                    ec, std::size_t{0}));
      return;
    }
    // The rest is the socket's tail now: its flush is the write in flight, and the queue waits for it.
    self->flushing_batched_ = true;
    self->ws_.next_layer().async_flush(beast::bind_front_handler(&basic_ws_session::on_batched_flushed, self->shared_from_this()));
  }
}

template <class Stream>
void basic_ws_session<Stream>::on_batched_flushed(error_code ec, std::size_t bytes) {
  flushing_batched_ = false;
  on_write(ec, bytes);
}

template <class Stream>
void basic_ws_session<Stream>::write_directly(proto::event_ptr ev) {
  if (write_at_once(ev->json())) {
    pump_.sent_directly(*ev);
    return;
  }
  // Its tail is being flushed, or its error is on its way: it is the write in flight until on_write.
  pump_.push(std::move(ev));
  pump_.begin_write(1);
}

template <class Stream>
void basic_ws_session<Stream>::on_write(error_code ec, std::size_t) {
  if (after_write(ec)) do_write();
}

template <class Stream>
bool basic_ws_session<Stream>::after_write(error_code ec) {
  if (corked_) hold_sends(false);
  pump_.end_write(!ec);
  if (ec) {
    if (!closing_) set_cause("write: " + ec.message());
    finish();
    return false;
  }
  if (pending_close_) {
    // What was queued before the close goes out first: a drain's 1001 follows the streams' last events.
    if (!pump_.empty()) return true;
    auto reason = *pending_close_;
    pending_close_.reset();
    ws_.async_close(reason, beast::bind_front_handler(&basic_ws_session::on_close, this->shared_from_this()));
    return false;
  }
  return !closing_ && !holding_;
}

template <class Stream>
void basic_ws_session<Stream>::close(websocket::close_reason reason) {
  if (closing_ || finished_) return;
  closing_ = true;
  unwatch();  // the close handshake has Beast's deadline
  if (!close_code_) close_code_ = static_cast<std::uint16_t>(reason.code);
  if (pump_.writing() || !pump_.empty()) {
    pending_close_ = std::make_unique<websocket::close_reason>(reason);  // Beast allows one write at a time; the close frame is a write
    do_write();
    return;
  }
  ws_.async_close(reason, beast::bind_front_handler(&basic_ws_session::on_close, this->shared_from_this()));
}

template <class Stream>
void basic_ws_session<Stream>::on_close(error_code) {
  // The read loop sees the end of the close handshake and calls finish().
}

template <class Stream>
void basic_ws_session<Stream>::finish() {
  if (finished_) return;
  finished_ = true;
  unwatch();
  pump_.clear_waiting();
  slots_.reset();
  handler_.closed(close_code_.value_or(1006), close_cause_ ? std::string_view(*close_cause_) : std::string_view("client"));
}

template <class Stream>
auto& basic_ws_session<Stream>::tcp_socket() {
  if constexpr (is_tls_v<Stream>) return beast::get_lowest_layer(ws_).socket();
  else return ws_.next_layer();
}

template <class Stream>
void basic_ws_session<Stream>::hold_sends(bool on) {
  if constexpr (is_tls_v<Stream>) {
    corked_ = on;
    int v = on ? 1 : 0;
    ::setsockopt(tcp_socket().native_handle(), IPPROTO_TCP, TCP_CORK, &v, sizeof v);  // best effort: uncorked, it only costs a segment
  } else {
    ws_.next_layer().more_follows(on);
  }
}

template <class Stream>
void basic_ws_session<Stream>::idle_ping() {
  if (closing_ || finished_ || pinging_) return;
  pinging_ = true;
  ws_.async_ping({}, [self = this->shared_from_this()](error_code) { self->pinging_ = false; });
}

template <class Stream>
void basic_ws_session<Stream>::idle_expired() {
  if (closing_ || finished_) return;
  // As Beast's own timeout did: the socket is closed without a close frame (the peer is not
  // listening), and the pending read ends the session with this cause.
  set_cause("idle_timeout");
  closing_ = true;
  error_code ec;
  tcp_socket().close(ec);
}

template class basic_ws_session<ws_transport_t<plain_stream>>;
template class basic_ws_session<tls_stream>;

}  // namespace sg::io
