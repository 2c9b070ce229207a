// The two transports a session runs on: plain TCP, and TLS over TCP.
#pragma once

#include "core/asio.hpp"
#include "net/send_batch.hpp"

#include <boost/beast/ssl.hpp>
#include <boost/asio/append.hpp>
#include <boost/beast/websocket/teardown.hpp>


#include <cerrno>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace sg::io {

/// What a connection's handlers run on: the io_context of its shard, run by one thread. Named as the
/// concrete type, not as any_io_executor: every operation on a socket copies, moves and destroys its
/// executor several times (work guards, completion handlers), and through any_io_executor each of
/// those is a call through a function table.
using shard_executor = net::io_context::executor_type;
using shard_socket = net::basic_stream_socket<tcp, shard_executor>;
using plain_stream = beast::basic_stream<tcp, shard_executor, beast::unlimited_rate_policy>;
using tls_stream = beast::ssl_stream<plain_stream>;

template <class Stream>
inline constexpr bool is_tls_v = std::is_same_v<Stream, tls_stream>;

/// A plain WebSocket's socket: Asio's, with two additions.
///
/// Its writes can be held back ("more follows"): while the mark is set, a write of Beast's is kept in
/// the socket and completes at once, and the next write sends it along with its own bytes in one
/// send call. The 101 is written so, and goes out with the "connected" frame written after it: one
/// send and one segment, without the two TCP_CORK calls a TLS connection needs for the segment.
/// The session sends a held write on its own (async_flush) if no frame took it along.
///
/// Its synchronous write never blocks: it sends what the socket takes at once and keeps the rest (the
/// tail), which async_flush then writes. The session writes a frame through Beast's synchronous write
/// when writable_now(): nearly always the socket takes it whole, and then no operation, completion or
/// scheduler trip is made for it. Beast's own writes (the 101, pongs, pings, the close frame) stay
/// asynchronous and are counted while they run; one that comes while a tail waits is queued behind
/// it, whole, and completes at once. Beast's teardown after a close waits for the tail.
///
/// Within a pacer's run, a synchronous write on offer joins the thread's send batch
/// (net/send_batch.hpp) instead of being sent: into the batch's own buffer when the writer gave a
/// shortfall handler (the socket then keeps only its entry's number), otherwise as the tail.
///
/// The handlers of Beast's writes and of the flush use the socket: a session keeps its socket until
/// they have run (each holds the session).
///
/// All of this state lives apart, allocated only while it is not at rest (a mark, a write of Beast's,
/// a tail): an idle connection's socket holds one null pointer beside Asio's (RSS per idle
/// WebSocket: Beast allocates its state with the socket in it, in 16-byte steps).
class ws_socket : public shard_socket {
 public:
  explicit ws_socket(shard_socket&& s) : shard_socket(std::move(s)) {}
  ws_socket(ws_socket&&) = default;
  ~ws_socket() {
    if (batch_at_) send_batch::forget(this, batch_at_);
  }
  void more_follows(bool on) {
    if (on) state().more = true;
    else if (w_) {
      w_->more = false;
      settle();
    }
  }

  /// Keeps `bytes` as a held write, as a write of Beast's under "more follows" is kept: the next write
  /// takes them along, or async_flush sends them. The handshake's answer (net/ws_accept.hpp) is
  /// written so, on a socket at rest.
  void hold(std::string bytes) {
    auto& t = state();
    t.kept = t.held = true;
    t.writing = std::move(bytes);  // with the room its writer reserved
  }

  /// No write of Beast's is running and no tail is being sent: a frame written now goes out in order
  /// (behind a held write, which it takes along).
  bool writable_now() const { return !w_ || (w_->in_flight == 0 && (!w_->kept || w_->held)); }
  /// Bytes wait in the socket (a tail the last synchronous write left, or a held write): async_flush
  /// must follow.
  bool holds_tail() const { return w_ && w_->kept; }
  /// A held write waits and no flush has started for it.
  bool holds_held() const { return w_ && w_->held; }

  /// Sends without blocking; what the socket does not take is kept as the tail. Reports every byte
  /// written, or the socket's error.
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers, error_code& ec) {
    ec = {};
    std::size_t total = net::buffer_size(buffers);
    if (batch_at_ && !holds_tail()) {
      // A frame of this window waits in the batch's buffer. The next one, written right after it,
      // joins it there; a write after another socket's takes it back as the tail and queues behind.
      if (auto* batch = send_batch::offered(this); batch && batch->last_in_buffer(batch_at_)) {
        append_to_batch(*batch, buffers);
        return total;
      }
      keep_batched_as_tail();
    }
    if (holds_tail()) return append_to_tail(buffers, 0);
    if (auto* batch = send_batch::offered(this); batch && writable_now() && !(w_ && w_->more)) {
      if (auto told = send_batch::offered_told(); told.fn) {
        // Into the batch's buffer: the socket keeps nothing, and the write counts as done.
        batch_at_ = batch->join_buffer(this, told);
        append_to_batch(*batch, buffers);
        return total;
      }
      // Kept as the tail until the pacer's run ends; async_flush then waits for the batch.
      auto& t = state();
      t.kept = t.batched = true;
      append_to_tail(buffers, 0);
      batch_at_ = batch->join_tail(this);
      return total;
    }
    if (!non_blocking()) {
      non_blocking(true, ec);
      if (ec) return 0;
    }
    std::size_t n = send(buffers, 0, ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      ec = {};
      n = 0;
    }
    if (ec) return 0;
    if (n < total) {
      state().kept = true;
      append_to_tail(buffers, n);
    }
    return total;
  }
  template <class ConstBufferSequence>
  std::size_t write_some(const ConstBufferSequence& buffers) {
    error_code ec;
    auto n = write_some(buffers, ec);
    if (ec) throw boost::system::system_error(ec);
    return n;
  }

  template <class ConstBufferSequence, class WriteToken>
  auto async_write_some(const ConstBufferSequence& buffers, WriteToken&& token) {
    return net::async_initiate<WriteToken, void(error_code, std::size_t)>(
        [this](auto handler, const ConstBufferSequence& bufs) {
          keep_batched_as_tail();  // a frame waiting in the send batch goes first
          if (w_ && w_->more && w_->in_flight == 0 && !w_->kept) w_->kept = w_->held = true;
          if (holds_tail()) {
            auto n = append_to_tail(bufs, 0);
            net::post(get_executor(), net::append(std::move(handler), error_code{}, n));
            return;
          }
          ++state().in_flight;
          async_send(bufs, 0, counted<std::decay_t<decltype(handler)>>{this, std::move(handler)});
        },
        token, buffers);
  }

  /// Writes the tail (and whatever was queued behind it), then calls `handler(ec, 0)`.
  template <class Handler>
  void async_flush(Handler handler) {
    w_->flushing = true;
    w_->held = false;
    if (w_->batched) {
      w_->waiter = std::make_unique<after_fn<flush_done<Handler>>>(flush_done<Handler>{std::move(handler)});
      return;
    }
    send_tail(std::move(handler));
  }

  /// Keeps `f` to run with the flush's result once the tail is written (holds_tail() must be true).
  /// Beast's teardown must not shut the socket down under a close frame still queued.
  template <class F>
  void after_tail(F&& f) {
    w_->after = std::make_unique<after_fn<std::decay_t<F>>>(std::forward<F>(f));
  }

  /// Bytes of this window waiting in the send batch's buffer become the socket's tail (sent with
  /// the batch all the same), so that what is written next goes behind them.
  void keep_batched_as_tail() {
    if (!batch_at_ || (w_ && w_->batched)) return;
    auto bytes = send_batch::here()->to_tail(batch_at_);
    auto& t = state();
    t.writing.append(bytes.data(), bytes.size());
    t.kept = t.batched = true;
  }

 private:
  friend class send_batch;
  struct after_base {
    virtual ~after_base() = default;
    virtual void run(error_code ec) = 0;
  };
  template <class F>
  struct after_fn final : after_base {
    explicit after_fn(F&& fn) : f(std::move(fn)) {}
    void run(error_code ec) override { std::move(f)(ec); }
    F f;
  };
  // A flush's handler, called as send_tail calls it.
  template <class Handler>
  struct flush_done {
    Handler h;
    void operator()(error_code ec) { std::move(h)(ec, std::size_t{0}); }
  };
  struct writes {
    std::string writing;  // the tail, being sent
    std::string next;     // queued behind it while it is sent
    std::size_t sent = 0;
    std::unique_ptr<after_base> after;
    std::uint16_t in_flight = 0;  // Beast's writes running (one at a time, by Beast's rule)
    bool kept = false;      // a tail waits
    bool flushing = false;  // and async_flush is writing it
    bool more = false;      // Beast's writes are held
    bool held = false;      // the tail is a held write: the next write sends it
    bool batched = false;   // the tail waits in the shard's send_batch
    std::unique_ptr<after_base> waiter;  // the flush's handler, while the tail is batched
  };
  writes& state() {
    if (!w_) w_ = std::make_unique<writes>();
    return *w_;
  }
  // Lets the state go once it is at rest.
  void settle() {
    if (w_ && !w_->more && w_->in_flight == 0 && !w_->kept) w_.reset();
  }

  // A write of Beast's: counted until its handler runs, with the handler's executor, allocator and
  // cancellation slot.
  template <class Handler>
  struct counted {
    ws_socket* s;
    Handler h;
    using executor_type = net::associated_executor_t<Handler, shard_executor>;
    executor_type get_executor() const noexcept { return net::get_associated_executor(h, s->get_executor()); }
    using allocator_type = net::associated_allocator_t<Handler>;
    allocator_type get_allocator() const noexcept { return net::get_associated_allocator(h); }
    using cancellation_slot_type = net::associated_cancellation_slot_t<Handler>;
    cancellation_slot_type get_cancellation_slot() const noexcept { return net::get_associated_cancellation_slot(h); }
    void operator()(error_code ec, std::size_t n) {
      --s->w_->in_flight;
      s->settle();
      std::move(h)(ec, n);
    }
  };

  template <class ConstBufferSequence>
  static void append_to_batch(send_batch& batch, const ConstBufferSequence& buffers) {
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers); ++it) {
      net::const_buffer b(*it);
      batch.append(b.data(), b.size());
    }
  }

  template <class ConstBufferSequence>
  std::size_t append_to_tail(const ConstBufferSequence& buffers, std::size_t skip) {
    auto& to = w_->flushing ? w_->next : w_->writing;
    std::size_t total = 0;
    for (auto it = net::buffer_sequence_begin(buffers); it != net::buffer_sequence_end(buffers); ++it) {
      net::const_buffer b(*it);
      total += b.size();
      if (skip >= b.size()) {
        skip -= b.size();
        continue;
      }
      to.append(static_cast<const char*>(b.data()) + skip, b.size() - skip);
      skip = 0;
    }
    return total;
  }

  template <class Handler>
  void send_tail(Handler handler) {
    auto& t = *w_;
    async_send(net::buffer(t.writing.data() + t.sent, t.writing.size() - t.sent), 0,
               [this, handler = std::move(handler)](error_code ec, std::size_t n) mutable {
                 if (!ec && advance_tail(n)) return send_tail(std::move(handler));
                 end_tail(ec);
                 handler(ec, std::size_t{0});
               });
  }

  // `n` more bytes of the tail went out; true while some of it, or what queued behind it, is left.
  bool advance_tail(std::size_t n) {
    auto& t = *w_;
    t.sent += n;
    if (t.sent == t.writing.size() && !t.next.empty()) {
      t.writing.swap(t.next);
      t.next.clear();
      t.sent = 0;
    }
    return t.sent < t.writing.size();
  }
  // The tail is written, or failed with `ec`: the socket is at rest, and a teardown waiting for it goes on.
  void end_tail(error_code ec) {
    auto& t = *w_;
    auto after = std::move(t.after);
    std::string().swap(t.writing);
    std::string().swap(t.next);
    t.sent = 0;
    t.kept = t.flushing = false;
    settle();
    if (after) after->run(ec);
  }

  // For send_batch: what the tail still holds to send.
  std::string_view batch_bytes() const { return std::string_view(w_->writing).substr(w_->sent); }
  // The batch's send returned `result` (bytes sent, 0 when the socket took nothing now, or -errno).
  // The rest of the tail, and what was queued behind it, is written as async_flush writes it; then
  // the flush's handler runs.
  void batch_done(int result) {
    batch_at_ = 0;
    auto& t = *w_;
    t.batched = false;
    auto waiter = std::move(t.waiter);
    if (result >= 0 && advance_tail(static_cast<std::size_t>(result))) {
      send_tail([waiter = std::move(waiter)](error_code ec, std::size_t) {
        if (waiter) waiter->run(ec);
      });
      return;
    }
    error_code ec = result < 0 ? error_code(-result, boost::system::system_category()) : error_code{};
    end_tail(ec);
    if (waiter) waiter->run(ec);
  }

  // The send batch's result for a frame it held in its buffer (`bytes`): taken whole, the socket
  // stays at rest and no one is told; otherwise `told` learns of the error, or that the rest is now
  // the tail, which the session flushes.
  void buffer_done(int result, std::string_view bytes, send_batch::shortfall told) {
    batch_at_ = 0;
    if (result >= 0 && static_cast<std::size_t>(result) >= bytes.size()) return;
    if (result < 0) {
      told.fn(told.ctx, error_code(-result, boost::system::system_category()));
      return;
    }
    auto& t = state();
    t.writing.append(bytes.data() + result, bytes.size() - static_cast<std::size_t>(result));
    t.kept = true;
    told.fn(told.ctx, {});
  }

  std::unique_ptr<writes> w_;
  std::uint32_t batch_at_ = 0;  // this socket's entry in the thread's open send batch (from 1), or 0
};

// Beast closes a WebSocket through teardown functions found by argument-dependent lookup; a ws_socket
// is torn down as the socket it is, once its tail is written.
inline void teardown(beast::role_type role, ws_socket& s, error_code& ec) {
  beast::websocket::teardown(role, static_cast<shard_socket&>(s), ec);
}
template <class TeardownHandler>
void async_teardown(beast::role_type role, ws_socket& s, TeardownHandler&& handler) {
  s.keep_batched_as_tail();
  if (!s.holds_tail()) {
    beast::websocket::async_teardown(role, static_cast<shard_socket&>(s), std::forward<TeardownHandler>(handler));
    return;
  }
  s.after_tail([role, &s, h = std::forward<TeardownHandler>(handler)](error_code ec) mutable {
    if (ec) std::move(h)(ec);
    else beast::websocket::async_teardown(role, static_cast<shard_socket&>(s), std::move(h));
  });
}

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
  using type = ws_socket;
  static ws_socket take(plain_stream& s) { return ws_socket(s.release_socket()); }
};
template <class Stream>
using ws_transport_t = typename ws_transport<Stream>::type;

}  // namespace sg::io
