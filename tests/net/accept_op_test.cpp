// The listener's accept: accept4 hands over a descriptor already non-blocking and close-on-exec, with
// its peer's address; the adopted socket is known to Asio as non-blocking and never duplicated, so it
// works at once and its close leaves nothing registered with epoll; a closed listening socket ends
// the accept under way with operation_aborted.
#include "net/accept_op.hpp"

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <fstream>
#include <optional>
#include <string>

namespace sg::io {
namespace {

// Descriptors this process holds, and the descriptors registered with its epoll instances.
struct descriptor_count {
  int open = 0;
  int registered = 0;
};
descriptor_count count_descriptors() {
  descriptor_count c;
  DIR* d = opendir("/proc/self/fd");
  if (!d) return c;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    ++c.open;
    char target[256] = {};
    std::string link = std::string("/proc/self/fd/") + e->d_name;
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    if (n <= 0 || std::string(target, static_cast<std::size_t>(n)) != "anon_inode:[eventpoll]") continue;
    std::ifstream info(std::string("/proc/self/fdinfo/") + e->d_name);
    for (std::string line; std::getline(info, line);)
      if (line.rfind("tfd:", 0) == 0) ++c.registered;
  }
  closedir(d);
  return c;
}

struct accepted {
  error_code ec;
  int fd = -1;
};

class AcceptOp : public ::testing::TestWithParam<const char*> {
 protected:
  net::io_context ioc{1};
  listening_socket listener{ioc.get_executor()};
  void SetUp() override {
    auto address = net::ip::make_address(GetParam());
    listener.open(address.is_v4() ? tcp::v4() : tcp::v6());
    listener.bind(tcp::endpoint(address, 0));
    listener.listen();
  }
};

TEST_P(AcceptOp, EveryConnectionIsNonBlockingCloseOnExecAndLeavesNothingBehind) {
  constexpr int n = 5'000;
  auto at = listener.local_endpoint();

  // One round first, so that what the reactor keeps for itself is counted in the baseline.
  auto before = count_descriptors();
  for (int i = 0; i < n; ++i) {
    tcp::socket client(ioc);
    client.connect(at);
    tcp::endpoint peer;
    std::optional<accepted> got;
    listener.async_accept_descriptor(peer, [&](error_code ec, int fd) { got = accepted{ec, fd}; });
    ioc.restart();
    while (!got) ioc.run_one();
    ASSERT_FALSE(got->ec) << got->ec.message();
    ASSERT_GE(got->fd, 0);
    ASSERT_TRUE(fcntl(got->fd, F_GETFL) & O_NONBLOCK);
    ASSERT_TRUE(fcntl(got->fd, F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(peer, client.local_endpoint()) << "the peer's address, from accept4 itself";

    error_code ec;
    shard_socket s = adopt_accepted(ioc.get_executor(), got->fd, peer, ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_TRUE(s.non_blocking()) << "Asio knows it is non-blocking: no ioctl to make it so";
    if (i == 0) before = count_descriptors();

    // It works at once, both ways: an asynchronous read and a write at once.
    const std::string ping = "ping " + std::to_string(i);
    net::write(client, net::buffer(ping));
    std::array<char, 64> buf{};
    std::optional<std::size_t> read;
    s.async_read_some(net::buffer(buf), [&](error_code rec, std::size_t k) {
      ASSERT_FALSE(rec) << rec.message();
      read = k;
    });
    ioc.restart();
    while (!read) ioc.run_one();
    ASSERT_EQ(std::string(buf.data(), *read), ping);
    ASSERT_EQ(s.write_some(net::buffer(ping.data(), 4), ec), 4u);
    ASSERT_FALSE(ec);
    std::array<char, 4> back{};
    net::read(client, net::buffer(back));
    ASSERT_EQ(std::string(back.data(), back.size()), "ping");
    s.close();
  }
  auto after = count_descriptors();
  EXPECT_EQ(after.open, before.open - 2) << "every accepted descriptor was closed (the last pair is gone too)";
  EXPECT_EQ(after.registered, before.registered - 2) << "closed connections (the accepted one, the client) leave no registration behind";
}

TEST_P(AcceptOp, ClosingTheListeningSocketEndsTheAcceptUnderWay) {
  tcp::endpoint peer;
  std::optional<accepted> got;
  listener.async_accept_descriptor(peer, [&](error_code ec, int fd) { got = accepted{ec, fd}; });
  ioc.poll();
  EXPECT_FALSE(got) << "nobody connected: the accept waits";
  listener.close();
  ioc.restart();
  ioc.run();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->ec, net::error::operation_aborted);
  EXPECT_EQ(got->fd, -1);

  // An accept on a closed listening socket completes at once with an error, and hands nothing over.
  got.reset();
  listener.async_accept_descriptor(peer, [&](error_code ec, int fd) { got = accepted{ec, fd}; });
  ioc.restart();
  ioc.run();
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->ec);
  EXPECT_EQ(got->fd, -1);
}

INSTANTIATE_TEST_SUITE_P(Loopback, AcceptOp, ::testing::Values("127.0.0.1", "::1"),
                         [](const auto& info) { return std::string(info.param[0] == ':' ? "v6" : "v4"); });

}  // namespace
}  // namespace sg::io
