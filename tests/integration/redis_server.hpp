// A Redis server of a test's own: redis-server on 127.0.0.1 and a free port, persistence off, its
// files in a temp dir; stopped (and the dir removed) by the destructor.
#pragma once

#include <cstdint>
#include <string>

namespace sg::test {

class redis_server {
 public:
  /// Returns once the server answers PING. `password`: requirepass. Throws when redis-server is
  /// missing or does not start.
  explicit redis_server(std::string password = {});
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  std::uint16_t port() const { return port_; }
  /// redis://[:PASSWORD@]127.0.0.1:PORT
  std::string url() const;
  /// Stops the server (SIGTERM, or SIGKILL when `hard`) and waits for it to exit.
  void stop(bool hard = false);
  /// Starts it again on the same port (empty: its data went with it).
  void restart();
  bool running() const { return pid_ > 0; }
  /// Sends one command as inline text and returns the first line of the reply ("+PONG").
  std::string command(const std::string& inline_command) const;
  std::string log() const;

 private:
  void start();
  std::string password_;
  std::string dir_;
  std::uint16_t port_ = 0;
  int pid_ = -1;
};

}  // namespace sg::test
