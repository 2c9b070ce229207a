// Accepting a connection, side by side: Asio's accept, made non-blocking as the listener did it
// (accept(2), an ioctl, and an EPOLL_CTL_DEL at the close), and the listener's own
// (net/accept_op.hpp: accept4, adopted as non-blocking and never duplicated). Each iteration
// connects a client over loopback, accepts it asynchronously, runs the completion, and closes both
// ends; the client's side is the same in both.
#include "net/accept_op.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <optional>

#include <benchmark/benchmark.h>

namespace {

namespace net = boost::asio;
using sg::tcp;

int connect_client(const tcp::endpoint& at) {
  int c = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c < 0 || ::connect(c, at.data(), static_cast<socklen_t>(at.size())) != 0) std::abort();
  return c;
}

void BM_AcceptAsio(benchmark::State& state) {
  net::io_context ioc{1};
  tcp::acceptor acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  auto at = acceptor.local_endpoint();
  for (auto _ : state) {
    int client = connect_client(at);
    sg::io::shard_socket s(ioc.get_executor());
    tcp::endpoint peer;
    bool done = false;
    acceptor.async_accept(s, peer, [&](sg::error_code ec) {
      if (ec) std::abort();
      done = true;
    });
    ioc.restart();
    while (!done) ioc.run_one();
    s.non_blocking(true);
    s.close();
    ::close(client);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AcceptAsio);

void BM_AcceptNonBlocking(benchmark::State& state) {
  net::io_context ioc{1};
  sg::io::listening_socket listener(ioc.get_executor());
  listener.open(tcp::v4());
  listener.bind(tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  listener.listen();
  auto at = listener.local_endpoint();
  for (auto _ : state) {
    int client = connect_client(at);
    tcp::endpoint peer;
    std::optional<int> fd;
    listener.async_accept_descriptor(peer, [&](sg::error_code ec, int d) {
      if (ec) std::abort();
      fd = d;
    });
    ioc.restart();
    while (!fd) ioc.run_one();
    sg::error_code ec;
    sg::io::shard_socket s = sg::io::adopt_accepted(ioc.get_executor(), *fd, peer, ec);
    if (ec) std::abort();
    s.close();
    ::close(client);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AcceptNonBlocking);

}  // namespace
