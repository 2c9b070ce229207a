// Accepts TCP connections and hands each to an http_session on its own strand.
#pragma once

#include "core/asio.hpp"
#include "gateway/app.hpp"

#include <memory>

namespace sg::io {

class listener : public std::enable_shared_from_this<listener> {
 public:
  /// Binds and listens; throws std::system_error when the address cannot be bound.
  listener(net::io_context& ioc, tcp::endpoint endpoint, gateway::app& app);
  void run();
  /// Stops accepting (drain). Thread-safe.
  void stop();
  tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }

 private:
  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  gateway::app& app_;
};

}  // namespace sg::io
