// The send batch: a write on offer within a window is kept until the window closes, then sent with
// the others in one submission; what the socket does not take is flushed after, in order; a socket
// closed or gone before the window closes sends nothing; a peer's reset reaches the flush's handler.
#include "net/send_batch.hpp"
#include "net/stream_types.hpp"

#include <gtest/gtest.h>

#include <sys/socket.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sg::io {
namespace {

// Connected pairs over loopback; each server side is a ws_socket, each client a plain socket.
struct pairs {
  net::io_context ioc{1};
  tcp::acceptor acc{ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)};
  std::vector<std::optional<ws_socket>> servers;
  std::vector<std::unique_ptr<tcp::socket>> clients;

  explicit pairs(int n, int buffer = 0) {
    for (int i = 0; i < n; ++i) {
      auto c = std::make_unique<tcp::socket>(ioc);
      c->open(tcp::v4());
      if (buffer) c->set_option(net::socket_base::receive_buffer_size(buffer));
      c->connect(acc.local_endpoint());
      shard_socket s(ioc.get_executor());
      acc.accept(s);
      if (buffer) s.set_option(net::socket_base::send_buffer_size(buffer));
      s.non_blocking(true);
      servers.emplace_back(std::in_place, std::move(s));
      clients.push_back(std::move(c));
    }
  }
  template <class Pred>
  void run_until(Pred done) {
    ioc.restart();
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < until) ioc.run_one_for(std::chrono::milliseconds(100));
    ASSERT_TRUE(done());
  }
};

// What a client can read now without waiting.
std::string available(tcp::socket& c) {
  std::string out;
  char buf[65536];
  for (;;) {
    auto n = ::recv(c.native_handle(), buf, sizeof buf, MSG_DONTWAIT);
    if (n <= 0) return out;
    out.append(buf, static_cast<std::size_t>(n));
  }
}

// Writes `bytes` as the session does: on offer, then waits for the flush if a tail is kept.
std::size_t write_offered(ws_socket& s, const std::string& bytes, std::optional<error_code>& flushed) {
  error_code ec;
  std::size_t n;
  {
    send_batch::offer o(&s);
    n = s.write_some(net::buffer(bytes), ec);
  }
  EXPECT_FALSE(ec);
  if (s.holds_tail()) s.async_flush([&flushed](error_code e, std::size_t) { flushed = e; });
  return n;
}

TEST(SendBatch, WritesOfAWindowLeaveTogetherWhenItCloses) {
  pairs p(20);
  std::vector<std::optional<error_code>> flushed(p.servers.size());
  const auto submissions = send_batch::submissions(), sends = send_batch::sends();
  {
    send_batch::window w;
    for (std::size_t i = 0; i < p.servers.size(); ++i) {
      auto frame = "frame " + std::to_string(i);
      EXPECT_EQ(write_offered(*p.servers[i], frame, flushed[i]), frame.size());
      EXPECT_TRUE(p.servers[i]->holds_tail());     // kept: nothing was sent yet
      EXPECT_FALSE(p.servers[i]->writable_now());  // the session queues what follows
    }
    for (auto& c : p.clients) EXPECT_EQ(available(*c), "");
    // Not on offer (Beast's own writes, another socket's): not batched, sent as before.
  }
  for (std::size_t i = 0; i < p.servers.size(); ++i) {
    ASSERT_TRUE(flushed[i].has_value()) << i;  // the window's end ran every flush's handler
    EXPECT_FALSE(*flushed[i]);
    EXPECT_FALSE(p.servers[i]->holds_tail());
    EXPECT_TRUE(p.servers[i]->writable_now());
  }
  for (std::size_t i = 0; i < p.clients.size(); ++i) {
    std::string got, want = "frame " + std::to_string(i);
    p.run_until([&] { return (got += available(*p.clients[i])).size() >= want.size(); });
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(send_batch::submissions() - submissions, 1u);
  EXPECT_EQ(send_batch::sends() - sends, p.servers.size());
}

TEST(SendBatch, AWriteNotOnOfferOrOutsideAWindowIsSentAtOnce) {
  pairs p(1);
  auto& s = *p.servers[0];
  error_code ec;
  {
    send_batch::window w;
    s.write_some(net::buffer(std::string("direct")), ec);  // no offer
    EXPECT_FALSE(s.holds_tail());
  }
  {
    send_batch::offer o(&s);  // no window
    s.write_some(net::buffer(std::string("-again")), ec);
    EXPECT_FALSE(s.holds_tail());
  }
  std::string got;
  p.run_until([&] { return (got += available(*p.clients[0])).size() >= 12; });
  EXPECT_EQ(got, "direct-again");
}

TEST(SendBatch, WhatTheSocketDoesNotTakeIsFlushedAfterInOrderWithWhatQueuedBehindIt) {
  pairs p(3, 16 * 1024);
  std::vector<std::string> sent(p.servers.size());
  std::vector<std::optional<error_code>> flushed(p.servers.size());
  {
    send_batch::window w;
    for (std::size_t i = 0; i < p.servers.size(); ++i) {
      sent[i] = std::string(400 * 1024, static_cast<char>('a' + i));
      for (std::size_t k = 0; k < sent[i].size(); k += 97) sent[i][k] = static_cast<char>('0' + k % 10);
      write_offered(*p.servers[i], sent[i], flushed[i]);
      // A write of Beast's made meanwhile queues behind the kept bytes and completes at once.
      p.servers[i]->async_write_some(net::buffer(std::string_view("|control")), [](error_code, std::size_t) {});
      sent[i] += "|control";
    }
  }
  for (std::size_t i = 0; i < p.servers.size(); ++i) {
    EXPECT_FALSE(flushed[i].has_value()) << "the socket took part of it: the rest is being flushed";
    EXPECT_TRUE(p.servers[i]->holds_tail());
  }
  std::vector<std::string> got(p.clients.size());
  p.run_until([&] {
    bool all = true;
    for (std::size_t i = 0; i < p.clients.size(); ++i) {
      got[i] += available(*p.clients[i]);
      all = all && got[i].size() >= sent[i].size() && flushed[i].has_value();
    }
    return all;
  });
  for (std::size_t i = 0; i < p.clients.size(); ++i) {
    EXPECT_EQ(got[i], sent[i]) << i;
    EXPECT_FALSE(*flushed[i]);
    EXPECT_FALSE(p.servers[i]->holds_tail());
  }
}

TEST(SendBatch, ASocketClosedOrGoneBeforeTheWindowClosesSendsNothing) {
  pairs p(3);
  std::vector<std::optional<error_code>> flushed(p.servers.size());
  std::optional<tcp::socket> reused;
  tcp::acceptor reused_listener(p.ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  {
    send_batch::window w;
    for (std::size_t i = 0; i < p.servers.size(); ++i) write_offered(*p.servers[i], "bytes " + std::to_string(i), flushed[i]);
    // Closed: its descriptor's number is free, and the next socket made takes it.
    const int number = p.servers[0]->native_handle();
    error_code ec;
    p.servers[0]->close(ec);
    reused.emplace(p.ioc);
    reused->connect(reused_listener.local_endpoint());
    EXPECT_EQ(reused->native_handle(), number);
    // Gone (its session ended): it leaves the batch as it is destroyed.
    p.servers[1].reset();
  }
  ASSERT_TRUE(flushed[0].has_value());
  EXPECT_EQ(*flushed[0], net::error::bad_descriptor);
  EXPECT_FALSE(p.servers[0]->holds_tail());
  EXPECT_FALSE(flushed[1].has_value());  // its handler went with it
  ASSERT_TRUE(flushed[2].has_value());
  EXPECT_FALSE(*flushed[2]);
  tcp::socket peer(p.ioc);
  reused_listener.accept(peer);
  std::string got2;
  p.run_until([&] { return (got2 += available(*p.clients[2])).size() >= 7; });
  EXPECT_EQ(got2, "bytes 2");
  EXPECT_EQ(available(peer), "") << "the closed socket's bytes went to the descriptor that took its number";
  EXPECT_EQ(available(*p.clients[0]), "");
}

TEST(SendBatch, APeersResetReachesTheFlushsHandler) {
  pairs p(1);
  auto& s = *p.servers[0];
  // The client resets the connection (SO_LINGER 0), and the reset reaches the server first.
  p.clients[0]->set_option(net::socket_base::linger(true, 0));
  p.clients[0]->close();
  char c;
  bool reset = false;
  p.run_until([&] { return reset = reset || (::recv(s.native_handle(), &c, 1, MSG_DONTWAIT) < 0 && errno != EAGAIN); });
  std::optional<error_code> flushed;
  {
    send_batch::window w;
    write_offered(s, "to nobody", flushed);
  }
  p.run_until([&] { return flushed.has_value(); });
  EXPECT_TRUE(*flushed);
  EXPECT_FALSE(s.holds_tail());
}

TEST(SendBatch, MoreSocketsThanOneSubmissionHoldsLeaveInRounds) {
  pairs p(300);
  std::vector<std::optional<error_code>> flushed(p.servers.size());
  const auto submissions = send_batch::submissions(), sends = send_batch::sends();
  {
    send_batch::window w;
    send_batch::window nested;  // joins the outer one
    for (std::size_t i = 0; i < p.servers.size(); ++i) write_offered(*p.servers[i], "x" + std::to_string(i), flushed[i]);
  }
  for (std::size_t i = 0; i < p.servers.size(); ++i) {
    ASSERT_TRUE(flushed[i].has_value()) << i;
    EXPECT_FALSE(*flushed[i]);
  }
  EXPECT_EQ(send_batch::submissions() - submissions, 2u);  // 256 a submission
  EXPECT_EQ(send_batch::sends() - sends, 300u);
  for (std::size_t i = 0; i < p.clients.size(); i += 97) {
    std::string got, want = "x" + std::to_string(i);
    p.run_until([&] { return (got += available(*p.clients[i])).size() >= want.size(); });
    EXPECT_EQ(got, want);
  }
}

}  // namespace
}  // namespace sg::io
