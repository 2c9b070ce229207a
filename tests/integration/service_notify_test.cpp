// sd_notify: the server tells a service manager (here a datagram socket of the test's) that it is
// ready, alive, reloading and stopping.
#include "integration/harness.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

namespace sg::test {
namespace {

/// A unix datagram socket standing in for systemd's NOTIFY_SOCKET.
class notify_socket {
 public:
  notify_socket() {
    char tmpl[] = "/tmp/streamgate-notify-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
    path_ = dir_ + "/notify.sock";
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    if (::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) throw std::runtime_error("bind failed");
  }
  ~notify_socket() {
    ::close(fd_);
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  const std::string& path() const { return path_; }

  /// Reads datagrams until one contains `line`; returns that datagram, or "" at the deadline.
  std::string wait_for(const std::string& line, std::chrono::milliseconds timeout = 10s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return {};
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buf[4096];
      auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) continue;
      std::string msg(buf, static_cast<std::size_t>(n));
      seen_.push_back(msg);
      if (("\n" + msg + "\n").find("\n" + line + "\n") != std::string::npos) return msg;
    }
  }
  const std::vector<std::string>& seen() const { return seen_; }

 private:
  std::string dir_, path_;
  int fd_ = -1;
  std::vector<std::string> seen_;
};

// The environment is read by the child at exec; set it only around the start.
std::unique_ptr<server_process> start_with_env(const std::vector<std::pair<std::string, std::string>>& env) {
  for (auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
  std::unique_ptr<server_process> s;
  try {
    s = std::make_unique<server_process>();
  } catch (...) {
    for (auto& [k, v] : env) ::unsetenv(k.c_str());
    throw;
  }
  for (auto& [k, v] : env) ::unsetenv(k.c_str());
  return s;
}

TEST(ServiceNotify, ReadyWhenListeningThenReloadingAndStopping) {
  notify_socket sock;
  auto srv = start_with_env({{"NOTIFY_SOCKET", sock.path()}});
  auto ready = sock.wait_for("READY=1");
  ASSERT_FALSE(ready.empty()) << srv->log();
  EXPECT_NE(ready.find("STATUS=listening on 127.0.0.1:" + std::to_string(srv->port())), std::string::npos) << ready;
  // Ready means served: a request right after READY=1 is answered.
  EXPECT_EQ(http_request(srv->port(), http::verb::get, "/healthz").status, 200u);

  srv->signal(SIGHUP);
  auto reloading = sock.wait_for("RELOADING=1");
  ASSERT_FALSE(reloading.empty());
  EXPECT_NE(reloading.find("MONOTONIC_USEC="), std::string::npos) << reloading;
  EXPECT_FALSE(sock.wait_for("READY=1").empty()) << "no READY=1 after the reload";

  srv->signal(SIGTERM);
  EXPECT_FALSE(sock.wait_for("STOPPING=1").empty());
  EXPECT_EQ(srv->wait(10s), 0);
  // No watchdog was asked for, so none was sent.
  for (auto& m : sock.seen()) EXPECT_EQ(m.find("WATCHDOG=1"), std::string::npos) << m;
}

TEST(ServiceNotify, PingsTheWatchdogAtHalfItsInterval) {
  notify_socket sock;
  auto srv = start_with_env({{"NOTIFY_SOCKET", sock.path()}, {"WATCHDOG_USEC", "300000"}});
  ASSERT_FALSE(sock.wait_for("READY=1").empty()) << srv->log();
  auto first = std::chrono::steady_clock::now();
  ASSERT_FALSE(sock.wait_for("WATCHDOG=1").empty());
  // Three more pings come within the deadline only if the timer keeps re-arming (150 ms apart).
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(sock.wait_for("WATCHDOG=1", 2s).empty()) << "ping " << i + 2;
  EXPECT_GE(std::chrono::steady_clock::now() - first, 300ms) << "pings came faster than half the interval";
}

TEST(ServiceNotify, WatchdogMeantForAnotherProcessIsIgnored) {
  notify_socket sock;
  // WATCHDOG_PID names the process the manager watches; this one is not it.
  auto srv = start_with_env({{"NOTIFY_SOCKET", sock.path()}, {"WATCHDOG_USEC", "100000"}, {"WATCHDOG_PID", "1"}});
  ASSERT_FALSE(sock.wait_for("READY=1").empty()) << srv->log();
  srv->signal(SIGTERM);
  ASSERT_FALSE(sock.wait_for("STOPPING=1").empty());
  EXPECT_EQ(srv->wait(10s), 0);
  for (auto& m : sock.seen()) EXPECT_EQ(m.find("WATCHDOG=1"), std::string::npos) << m;
}

}  // namespace
}  // namespace sg::test
