// The whole server: I/O threads, listener, store, streams and the drain on SIGTERM/SIGINT.
#pragma once

#include "core/config.hpp"

#include <memory>

namespace sg::gateway {

class server {
 public:
  explicit server(core::config cfg);
  ~server();
  /// Binds, serves until SIGTERM/SIGINT (or stop()), drains, and returns the exit code.
  int run();
  /// Begins the drain from any thread.
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sg::gateway
