// One WebSocket connection: reads messages, hands them to its gateway handler, and writes events
// through its outbound queue.
#pragma once

#include "core/asio.hpp"
#include "net/stream_types.hpp"
#include "gateway/app.hpp"
#include "gateway/security.hpp"
#include "gateway/ws_handler.hpp"
#include "net/idle_watch.hpp"
#include "net/outbound_pump.hpp"
#include "stream/stream.hpp"

#include <atomic>
#include <memory>
#include <optional>

namespace sg::io {

/// `Stream` is ws_transport_t of plain_stream or tls_stream: a bare socket or a TLS stream (net/stream_types.hpp).
template <class Stream>
class basic_ws_session final : public std::enable_shared_from_this<basic_ws_session<Stream>>,
                               public stream::subscriber,
                               public gateway::connection_handle,
                               private gateway::ws_peer,
                               private idle_watched {
 public:
  /// `stream` must already use a strand executor: every handler of this session runs on it.
  /// `tls_context` keeps the TLS context of a TLS stream alive (null for plain streams).
  basic_ws_session(Stream&& stream, gateway::app& app, std::shared_ptr<void> tls_context);
  ~basic_ws_session() override;

  /// Who is at the other end, as the HTTP session worked it out (behind a trusted proxy, not the socket's peer).
  struct client {
    std::string source_ip;
    std::string limit_key;   // whose rate limits and quotas this connection's streams count against
    std::string set_cookie;  // a Set-Cookie for the 101 answer (a new anonymous identity), or empty
    std::string connection_id;  // chosen before the upgrade (the $connect integration saw it); "" = make one
    std::string context_json;   // what the $connect integration returned for this connection ("" = none)
    bool admitted_by_route = false;  // the $connect integration let it in: $disconnect is owed even if the handshake fails
  };
  /// Completes the upgrade of `req` for `who` and starts the read loop. `slots` is released when
  /// the connection ends (its place in the per-IP and per-user connection limits).
  void run(http::request<http::string_body> req, gateway::principal who, bool bearer_subprotocol, client c,
           std::shared_ptr<void> slots);

  // stream::subscriber — any thread.
  void deliver(proto::event_ptr ev) override;
  // gateway::connection_handle — any thread.
  void send_frame(std::string text) override;
  void disconnect(std::uint16_t code, std::string reason) override;
  const gateway::connection_identity& identity() const override { return handler_.identity(); }
  std::int64_t last_active_ms() const override { return last_active_.load(std::memory_order_relaxed); }

 private:
  void on_accept(error_code ec);
  void on_open();  // the handshake is answered (the 101 held in the socket)
  void send_held();
  void await_first_read();
  void on_readable(error_code ec);
  void do_read();
  void on_read(error_code ec, std::size_t bytes);
  // gateway::ws_peer — on this session's executor.
  void write(proto::event_ptr ev, bool replay) override { enqueue(std::move(ev), replay); }
  void close_now(std::uint16_t code, std::string reason) override;
  net::any_io_executor executor() override { return ws_.get_executor(); }
  std::shared_ptr<stream::subscriber> self() override { return this->shared_from_this(); }

  void hold_writes(bool on) override;
  void enqueue(proto::event_ptr ev, bool replay = false);
  void do_write();
  void write_directly(proto::event_ptr ev);  // a plain connection with nothing queued or being written
  // A plain connection's frame through Beast's synchronous write: true if the socket took it whole;
  // otherwise on_write follows (the tail's flush, or a posted error).
  bool write_at_once(const std::string& frame);
  // The send batch's word on a frame write_at_once left in its buffer: `ec`, or the socket kept the
  // rest as its tail (flushed here, as the write in flight). `ctx` is the session.
  static void batch_shortfall(void* ctx, const error_code& ec);
  void on_batched_flushed(error_code ec, std::size_t bytes);
  void on_write(error_code ec, std::size_t bytes);
  bool after_write(error_code ec);  // true: write what waits next
  void close(websocket::close_reason reason);
  void on_close(error_code ec);
  void finish();  // runs once when the connection is gone
  // idle_watched — on this session's executor.
  void idle_ping() override;
  void idle_expired() override;
  void unwatch();
  void hold_sends(bool on);  // until the first frame after the 101: held in a plain socket, TCP_CORK under TLS
  auto& tcp_socket();  // the TCP socket under the WebSocket (and TLS)

  // Keeps a TLS stream's context alive; a plain connection has none to keep and holds nothing.
  struct no_tls_context {
    explicit no_tls_context(const std::shared_ptr<void>&) {}
  };
  [[no_unique_address]] std::conditional_t<is_tls_v<Stream>, std::shared_ptr<void>, no_tls_context> tls_context_;
  websocket::stream<Stream> ws_;
  beast::flat_buffer buffer_;
  gateway::app& app_;
  outbound_pump pump_;
  std::unique_ptr<websocket::close_reason> pending_close_;  // 136 bytes, held only while a close waits
  bool closing_ = false;
  bool finished_ = false;
  bool pinging_ = false;  // a keep-alive ping is on its way (Beast allows one at a time)
  bool corked_ = false;  // TLS: until the first frame after the 101 is written
  bool holding_ = false;  // events are queued, not written, until hold_writes(false) (a replay)
  bool late_noted_ = false;  // a late front waits for the shard's late flush (late_writes)
  bool late_flush_ = false;  // that flush is writing the queue
  bool flushing_batched_ = false;  // the socket flushes what the send batch left of frames written at once
  // Why the connection ended, as logged and told to the handler; null = "client" (the peer closed).
  // Set once, at the end: a pointer costs an idle connection 8 bytes where a string costs 32.
  std::unique_ptr<const std::string> close_cause_;
  void set_cause(std::string cause) { close_cause_ = std::make_unique<const std::string>(std::move(cause)); }
  std::optional<std::uint16_t> close_code_;  // as sent or received; none = the socket just ended (1006)
  std::shared_ptr<void> slots_;
  std::atomic<std::int64_t> last_active_{0};
  gateway::ws_handler handler_;
};

using ws_session = basic_ws_session<plain_stream>;
using tls_ws_session = basic_ws_session<tls_stream>;

}  // namespace sg::io
