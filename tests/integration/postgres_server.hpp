// A PostgreSQL server of a test's own: initdb into a temp dir, started on loopback, stopped after.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sg::test {

/// PostgreSQL 15 from Debian's packages (/usr/lib/postgresql/15/bin, or $SG_POSTGRES_BIN), with its
/// data and its socket in a temp dir, listening on 127.0.0.1 on a free port, fsync off. As root
/// (PostgreSQL refuses to run as root) the server runs as `nobody`, which owns the temp dir.
/// The constructor returns once the server accepts connections; the destructor stops it and
/// removes the dir. Throws when PostgreSQL is missing or does not start.
class postgres_server {
 public:
  postgres_server();
  ~postgres_server();
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& dir() const { return dir_; }
  /// postgres://streamgate@127.0.0.1:PORT/DB
  std::string url(const std::string& db = "postgres") const;
  /// The same database reached through the socket directory instead of TCP.
  std::string socket_url(const std::string& db = "postgres") const;
  /// Creates a database and returns its URL.
  std::string create_database(const std::string& name);
  /// Stops the server (fast shutdown: clients are disconnected), waiting until it is down.
  void stop();
  /// Starts it again, same data, same port; returns once it accepts connections.
  void start();
  bool running() const { return running_; }
  /// The server's own log.
  std::string log() const;

 private:
  // Runs a PostgreSQL program as the server's user, in the temp dir; returns its exit status.
  int run(const std::vector<std::string>& argv) const;
  std::string bin_;
  std::string dir_;
  std::uint16_t port_ = 0;
  bool running_ = false;
};

}  // namespace sg::test
