// A TCP socket whose reads cost one system call each, as nginx's do, rather than two.
//
// Asio's reactor tries a read at once when it is started ("speculative"), unless the previous read
// on the socket said the socket was exhausted, and its own read says so only at end of stream. An
// upstream connection sends one event at a time, so each read that returns an event is followed by
// a read started while the socket is empty: a recv that fails with EAGAIN before the reactor waits
// for the next event.
//
// Here the kernel says how much is left. With TCP_INQ on, every recvmsg carries the bytes still
// queued after it (TCP_CM_INQ), and a non-zero count when the peer's FIN is queued even if no data
// is. A read that leaves nothing queued and no FIN reports the socket exhausted, so the next read
// waits for the reactor without a call; data or a FIN that arrive after it raise a new
// edge-triggered readiness event, which re-enables the attempt. A short read alone would not do:
// an upstream that closes right after its last bytes has its FIN queued behind them, announced by
// the same edge, and the next read would wait for an event that never comes.
//
// The operation is Asio's own reactive receive with that one difference in what it reports; it is
// written against Asio's reactor interface (boost/asio/detail), which Debian 12's Boost 1.81 fixes.
// Per-operation cancellation slots are not wired up: a read whose handler has a connected slot goes
// through Asio's ordinary path instead. Without TCP_INQ the count is absent and every read reports
// "done", as Asio's does.
#pragma once

#include <boost/asio/associated_cancellation_slot.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/buffer_sequence_adapter.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <utility>

namespace sg::provider::httpc {

// One non-blocking recvmsg into `buffer`: `not_done` if nothing is there yet; `done_and_exhausted`
// if the kernel counted nothing left after it (TCP_CM_INQ) or the stream ended; `done` otherwise,
// and whenever the count is absent (TCP_INQ off).
inline boost::asio::detail::reactor_op::status receive_counting_queue(int fd, boost::asio::mutable_buffer buffer,
                                                                      boost::system::error_code& ec,
                                                                      std::size_t& bytes) {
  using status = boost::asio::detail::reactor_op::status;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  iovec iov{buffer.data(), buffer.size()};
  for (;;) {
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, 0);
    if (n > 0) {
      ec = boost::system::error_code();
      bytes = static_cast<std::size_t>(n);
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != IPPROTO_TCP || c->cmsg_type != TCP_CM_INQ) continue;
        int queued;
        std::memcpy(&queued, CMSG_DATA(c), sizeof queued);
        return queued == 0 ? status::done_and_exhausted : status::done;
      }
      return status::done;
    }
    bytes = 0;
    if (n == 0) {  // the end of the stream, reported as Asio's stream-oriented read reports it
      ec = boost::asio::error::eof;
      return status::done_and_exhausted;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return status::not_done;
    ec = boost::system::error_code(errno, boost::asio::error::get_system_category());
    return status::done;
  }
}

namespace detail {

namespace ad = boost::asio::detail;

// Asio's reactive_socket_recv_op_base::do_perform for one buffer, reporting `done_and_exhausted`
// when the kernel says nothing is left as well as at the end of the stream.
template <class Handler, class IoExecutor>
class inq_recv_op : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(inq_recv_op);

  inq_recv_op(const boost::system::error_code& success_ec, ad::socket_type socket,
              const boost::asio::mutable_buffer& buffer, Handler& handler, const IoExecutor& io_ex)
      : ad::reactor_op(success_ec, &inq_recv_op::do_perform, &inq_recv_op::do_complete),
        socket_(socket),
        buffer_(buffer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(ad::reactor_op* base) {
    auto* o = static_cast<inq_recv_op*>(base);
    return receive_counting_queue(o->socket_, o->buffer_, o->ec_, o->bytes_transferred_);
  }

  static void do_complete(void* owner, ad::operation* base, const boost::system::error_code&, std::size_t) {
    auto* o = static_cast<inq_recv_op*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    ad::binder2<Handler, boost::system::error_code, std::size_t> handler(o->handler_, o->ec_, o->bytes_transferred_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block b(ad::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  ad::socket_type socket_;
  boost::asio::mutable_buffer buffer_;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

}  // namespace detail

/// basic_stream_socket<tcp> over an io_context executor whose async_read_some (the one a plain
/// connection and an ssl::stream over it call) is the read above. Everything else is Asio's.
class inq_socket
    : public boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type> {
  using base = boost::asio::basic_stream_socket<boost::asio::ip::tcp, boost::asio::io_context::executor_type>;

 public:
  using executor_type = boost::asio::io_context::executor_type;

  explicit inq_socket(const executor_type& ex)
      : base(ex), reactor_(&boost::asio::use_service<boost::asio::detail::reactor>(ex.context())) {}

  /// Asks the kernel for the queued-bytes count on every read (once per connection); false where
  /// the kernel refuses, and reads then behave as Asio's.
  bool count_queued_bytes() {
    int on = 1;
    return ::setsockopt(native_handle(), IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
  }

  template <class MutableBufferSequence, class ReadToken>
  auto async_read_some(const MutableBufferSequence& buffers, ReadToken&& token) {
    return boost::asio::async_initiate<ReadToken, void(boost::system::error_code, std::size_t)>(
        [this](auto handler, const MutableBufferSequence& b) { start_read(std::move(handler), b); }, token, buffers);
  }

 private:
  template <class Handler, class MutableBufferSequence>
  void start_read(Handler handler, const MutableBufferSequence& buffers) {
    namespace ad = boost::asio::detail;
    using bufs = ad::buffer_sequence_adapter<boost::asio::mutable_buffer, MutableBufferSequence>;
    if (boost::asio::get_associated_cancellation_slot(handler).is_connected() || !bufs::is_single_buffer) {
      base::async_read_some(buffers, std::move(handler));
      return;
    }
    boost::asio::mutable_buffer buffer = bufs::first(buffers);
    if (buffer.size() == 0) {  // as Asio does: an empty read completes at once, without a call
      base::async_read_some(buffers, std::move(handler));
      return;
    }
    auto& impl = impl_.get_implementation();
    using op = detail::inq_recv_op<Handler, executor_type>;
    const bool continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), 0};
    p.p = new (p.v) op(boost::system::error_code(), impl.socket_, buffer, handler, impl_.get_executor());
    if ((impl.state_ & ad::socket_ops::non_blocking) ||
        ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_))
      reactor_->start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, continuation, true);
    else
      reactor_->post_immediate_completion(p.p, continuation);
    p.v = p.p = 0;
  }

  boost::asio::detail::reactor* reactor_;
};

}  // namespace sg::provider::httpc
