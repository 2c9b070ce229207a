// The accept loop; errors such as EMFILE are logged and the loop goes on after a pause.
#include "net/listener.hpp"

#include "core/heap_prefault.hpp"
#include "core/log.hpp"
#include "core/net_address.hpp"
#include "gateway/admission.hpp"
#include "gateway/security.hpp"
#include "net/http_session.hpp"

#include <unistd.h>

#include <algorithm>
#include <stdexcept>

namespace sg::io {
namespace {
// After a failed accept (out of descriptors, mostly) the next one waits this long.
constexpr auto accept_retry_delay = std::chrono::milliseconds(50);
}  // namespace

listener::listener(net::io_context& ioc, std::vector<net::io_context*> shards, tcp::endpoint endpoint,
                   gateway::app& app)
    : shards_(std::move(shards)), acceptor_(net::make_strand(ioc)), app_(app) {
  if (shards_.empty()) throw std::invalid_argument("listener: no shard to hand connections to");
  acceptor_.open(endpoint.protocol());
  acceptor_.set_option(net::socket_base::reuse_address(true));
  // Several processes on one port (cluster nodes on one box, a restart overlapping the old process):
  // the kernel spreads new connections over every listener.
  if (app.cfg.reuse_port) acceptor_.set_option(net::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true));
  // Options every accepted connection inherits from the listening socket (Linux copies them at
  // accept), set here once instead of with two system calls per connection. TCP_NODELAY: a streamed
  // response writes small chunks back to back, and Nagle would hold each one until the client's
  // delayed ACK (~40 ms). The send buffer, when configured, stays when a connection becomes a
  // WebSocket.
  acceptor_.set_option(tcp::no_delay(true));
  if (app.cfg.socket_send_buffer > 0)
    acceptor_.set_option(net::socket_base::send_buffer_size(app.cfg.socket_send_buffer));
  acceptor_.bind(endpoint);
  acceptor_.listen(net::socket_base::max_listen_connections);
}

void listener::run() { do_accept(); }

void listener::stop() {
  net::post(acceptor_.get_executor(), [self = shared_from_this()] {
    error_code ec;
    self->acceptor_.close(ec);
  });
}

shard_executor listener::next_executor() {
  // A shard is run by one thread, so its executor already runs a connection's handlers one at a time.
  return shards_[next_shard_++ % shards_.size()]->get_executor();
}

void listener::do_accept() {
  acceptor_.async_accept_descriptor(peer_, beast::bind_front_handler(&listener::on_accept, shared_from_this()));
}

void listener::on_accept(error_code ec, int fd) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) {
    if (!ec) ::close(fd);
    return;
  }
  if (ec) {
    core::log_warn("accept failed", {{"error", ec.message()}});
    // Out of descriptors: back off briefly instead of spinning on the same error.
    auto t = std::make_shared<net::steady_timer>(acceptor_.get_executor(), accept_retry_delay);
    t->async_wait([self = shared_from_this(), t](error_code) { self->do_accept(); });
    return;
  }
  // Limits are applied here, before a byte is parsed or a TLS handshake is spent on the connection.
  // IPv6 clients count by /64; a trusted proxy's clients are counted per request, by the session.
  accepted_peer peer{peer_.address(), core::names_of(peer_.address()), false};
  const auto& trusted = app_.sec->trusted_proxies();
  peer.is_proxy = std::any_of(trusted.begin(), trusted.end(), [&](const core::cidr& c) { return c.contains(peer.address); });
  auto adm = gateway::admit(app_, peer.names.limit_key, !peer.is_proxy);
  auto ctx = app_.tls.load();
  if (adm.at_capacity || (adm.refusal && ctx)) {
    // At capacity every descriptor counts, and a TLS refusal would cost a handshake: just close,
    // before the descriptor is registered with the reactor.
    ::close(fd);
    do_accept();
    return;
  }
  // Accepted non-blocking (net/accept_op.hpp): neither Asio's first operation nor a session's first
  // write at once makes an ioctl for it.
  shard_socket socket = adopt_accepted(next_executor(), fd, peer_, ec);
  if (ec) {
    core::log_warn("accept failed", {{"error", ec.message()}});
    do_accept();
    return;
  }
  // A session that stays (a WebSocket's, an SSE stream's) is where the heap grows: its next pages are
  // faulted in together (core/heap_prefault.hpp).
  if (ctx) {
    auto s = std::make_shared<tls_http_session>(tls_stream(std::move(socket), *ctx), app_, ctx, std::move(adm),
                                                std::move(peer));
    core::prefault_heap_after(s.get(), sizeof(*s));
    s->run();
  } else {
    auto s = std::make_shared<http_session>(plain_stream(std::move(socket)), app_, nullptr, std::move(adm),
                                            std::move(peer));
    core::prefault_heap_after(s.get(), sizeof(*s));
    s->run();
  }
  do_accept();
}

}  // namespace sg::io
