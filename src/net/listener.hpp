// Accepts TCP connections and hands each to an http_session on the next shard.
#pragma once

#include "core/asio.hpp"
#include "gateway/app.hpp"
#include "net/accept_op.hpp"
#include "net/stream_types.hpp"

#include <memory>
#include <vector>

namespace sg::io {

class listener : public std::enable_shared_from_this<listener> {
 public:
  /// Binds and listens; throws std::system_error when the address cannot be bound.
  /// Accepts on `ioc`; each connection goes to the next of `shards` in turn (all its handlers run
  /// there). Throws std::invalid_argument when `shards` is empty.
  listener(net::io_context& ioc, std::vector<net::io_context*> shards, tcp::endpoint endpoint, gateway::app& app);
  void run();
  /// Stops accepting (drain). Thread-safe.
  void stop();
  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();
  void on_accept(error_code ec, int fd);

  shard_executor next_executor();

  std::vector<net::io_context*> shards_;
  std::size_t next_shard_ = 0;
  listening_socket acceptor_;
  tcp::endpoint peer_;  // the peer of the accept under way: accept4(2) gives it, no getpeername(2)
  gateway::app& app_;
};

}  // namespace sg::io
