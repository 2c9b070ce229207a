// An accept that costs two system calls fewer per connection than Asio's.
//
// Asio's accept calls accept(2), so a connection is made non-blocking by an ioctl at its first
// operation (or by the listener, as streamgate did); and Asio marks every socket it adopts as
// possibly duplicated, so that closing it first removes it from epoll with an EPOLL_CTL_DEL. Here
// accept4(2) makes the connection non-blocking and close-on-exec as it is accepted, and the socket
// is adopted as what it is: non-blocking already, and never duplicated (nothing dups it, and
// close-on-exec keeps it out of any child), so its close alone takes it out of epoll, as for a
// socket Asio opened itself.
//
// The operation is Asio's reactive accept with accept4 in place of accept; it is written against
// Asio's reactor interface (boost/asio/detail), which Debian 12's Boost 1.81 fixes, as
// provider/http/inq_socket.hpp is. One difference: a connection that its peer reset before it was
// accepted (ECONNABORTED, EPROTO) is skipped and the next one taken at once, where Asio waits for
// the listener's next readiness event (which, edge-triggered, may not come while others queue).
#pragma once

#include "net/stream_types.hpp"

#include <boost/asio/detail/bind_handler.hpp>
#include <boost/asio/detail/fenced_block.hpp>
#include <boost/asio/detail/handler_alloc_helpers.hpp>
#include <boost/asio/detail/handler_cont_helpers.hpp>
#include <boost/asio/detail/handler_work.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/version.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <utility>

namespace sg::io {

static_assert(BOOST_VERSION == 108100, "accept_op.hpp is written against Boost 1.81's reactor");

namespace accept_detail {

namespace ad = boost::asio::detail;

// One non-blocking accept4 into `peer`: `not_done` while nothing waits; `done` with the descriptor,
// or with the error that stopped it.
inline ad::reactor_op::status accept_nonblocking(int listener, tcp::endpoint& peer, int& fd, error_code& ec) {
  for (;;) {
    socklen_t len = static_cast<socklen_t>(peer.capacity());
    int s = ::accept4(listener, peer.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (s >= 0) {
      peer.resize(len);
      fd = s;
      ec = {};
      return ad::reactor_op::done;
    }
    if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return ad::reactor_op::not_done;
    ec = error_code(errno, boost::asio::error::get_system_category());
    return ad::reactor_op::done;
  }
}

template <class Handler, class IoExecutor>
class accept_op : public ad::reactor_op {
 public:
  BOOST_ASIO_DEFINE_HANDLER_PTR(accept_op);

  accept_op(int listener, tcp::endpoint& peer, Handler& handler, const IoExecutor& io_ex)
      : ad::reactor_op(error_code(), &accept_op::do_perform, &accept_op::do_complete),
        listener_(listener),
        peer_(peer),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(ad::reactor_op* base) {
    auto* o = static_cast<accept_op*>(base);
    return accept_nonblocking(o->listener_, o->peer_, o->fd_, o->ec_);
  }

  static void do_complete(void* owner, ad::operation* base, const error_code&, std::size_t) {
    auto* o = static_cast<accept_op*>(base);
    ptr p = {std::addressof(o->handler_), o, o};
    ad::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    ad::binder2<Handler, error_code, int> handler(o->handler_, o->ec_, o->fd_);
    p.h = std::addressof(handler.handler_);
    p.reset();
    if (owner) {
      ad::fenced_block b(ad::fenced_block::half);
      w.complete(handler, handler.handler_);
    } else if (handler.arg2_ >= 0) {
      ::close(handler.arg2_);  // accepted as the reactor shut down: nobody will take it
    }
  }

 private:
  int listener_;
  tcp::endpoint& peer_;
  int fd_ = -1;
  Handler handler_;
  ad::handler_work<Handler, IoExecutor> work_;
};

// Reaches Asio's state of a socket it made (the flags its operations consult).
struct socket_state_access : shard_socket {
  static ad::socket_ops::state_type& of(shard_socket& s) {
    return (s.*&socket_state_access::impl_).get_implementation().state_;
  }
};

}  // namespace accept_detail

/// A listening socket whose accepts are accept4's (above): Asio's socket (open, options, bind,
/// close, the reactor's registration), listening. Asio's acceptor keeps its state private, where
/// a socket keeps it for the classes built on it.
class listening_socket : public boost::asio::basic_socket<tcp, boost::asio::any_io_executor> {
  using base = boost::asio::basic_socket<tcp, boost::asio::any_io_executor>;

 public:
  using base::base;

  void listen(int backlog = boost::asio::socket_base::max_listen_connections) {
    if (::listen(native_handle(), backlog) != 0)
      throw boost::system::system_error(error_code(errno, boost::asio::error::get_system_category()), "listen");
  }

  /// Accepts one connection: `handler(ec, fd)` with the new descriptor, already non-blocking and
  /// close-on-exec, and its peer's address in `peer` (which must outlive the operation). A
  /// descriptor handed to the handler is the handler's to adopt or close.
  template <class Handler>
  void async_accept_descriptor(tcp::endpoint& peer, Handler handler) {
    namespace ad = accept_detail::ad;
    using op = accept_detail::accept_op<Handler, executor_type>;
    auto& impl = impl_.get_implementation();
    auto& reactor = boost::asio::use_service<ad::reactor>(
        boost::asio::query(get_executor(), boost::asio::execution::context));
    const bool continuation = boost_asio_handler_cont_helpers::is_continuation(handler);
    typename op::ptr p = {std::addressof(handler), op::ptr::allocate(handler), 0};
    p.p = new (p.v) op(impl.socket_, peer, handler, impl_.get_executor());
    if (impl.socket_ == ad::invalid_socket) {
      p.p->ec_ = boost::asio::error::bad_descriptor;
      reactor.post_immediate_completion(p.p, continuation);
    } else if ((impl.state_ & ad::socket_ops::non_blocking) ||
               ad::socket_ops::set_internal_non_blocking(impl.socket_, impl.state_, true, p.p->ec_)) {
      reactor.start_op(ad::reactor::read_op, impl.socket_, impl.reactor_data_, p.p, continuation, true);
    } else {
      reactor.post_immediate_completion(p.p, continuation);
    }
    p.v = p.p = 0;
  }
};

/// A socket on `ex` for a descriptor accepted by async_accept_descriptor: registered with the
/// reactor once, known to Asio as non-blocking (no ioctl at its first operation or its first write
/// at once) and as never duplicated (its close removes it from epoll without EPOLL_CTL_DEL). On
/// failure `ec` is set and the descriptor is closed.
inline shard_socket adopt_accepted(const shard_executor& ex, int fd, const tcp::endpoint& peer, error_code& ec) {
  namespace ad = accept_detail::ad;
  shard_socket s(ex);
  s.assign(peer.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return s;
  }
  auto& state = accept_detail::socket_state_access::of(s);
  state |= ad::socket_ops::user_set_non_blocking | ad::socket_ops::internal_non_blocking;
  state &= static_cast<ad::socket_ops::state_type>(~ad::socket_ops::possible_dup);
  return s;
}

}  // namespace sg::io
