// The send batch: a write on offer within a window is kept until the window closes, then sent with
// the others in one submission; what the socket does not take is flushed after, in order; a socket
// closed or gone before the window closes sends nothing; a peer's reset reaches the flush's handler.
// A write offered with a shortfall handler waits in the batch's own buffer, and its writer hears
// only of what the socket did not take.
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

// Closes server 0 within a window; the next socket made (`reused`, connected to `l`) takes its
// descriptor's number.
void close_so_its_number_is_taken(pairs& p, tcp::acceptor& l, std::optional<tcp::socket>& reused) {
  const int number = p.servers[0]->native_handle();
  error_code ec;
  p.servers[0]->close(ec);
  reused.emplace(p.ioc);
  reused->connect(l.local_endpoint());
  EXPECT_EQ(reused->native_handle(), number);
}

// Server 0 was closed and server 1 destroyed within the window: only server 2's bytes went out.
void expect_only_the_third_sent(pairs& p, tcp::acceptor& l) {
  tcp::socket peer(p.ioc);
  l.accept(peer);
  std::string got2;
  p.run_until([&] { return (got2 += available(*p.clients[2])).size() >= 7; });
  EXPECT_EQ(got2, "bytes 2");
  EXPECT_EQ(available(peer), "") << "the closed socket's bytes went to the descriptor that took its number";
  EXPECT_EQ(available(*p.clients[0]), "");
}

// The client of pair `i` resets the connection (SO_LINGER 0), and the reset reaches the server first.
void reset_by_peer(pairs& p, std::size_t i) {
  p.clients[i]->set_option(net::socket_base::linger(true, 0));
  p.clients[i]->close();
  char c;
  bool reset = false;
  p.run_until([&] {
    return reset = reset || (::recv(p.servers[i]->native_handle(), &c, 1, MSG_DONTWAIT) < 0 && errno != EAGAIN);
  });
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
    close_so_its_number_is_taken(p, reused_listener, reused);
    // Gone (its session ended): it leaves the batch as it is destroyed.
    p.servers[1].reset();
  }
  ASSERT_TRUE(flushed[0].has_value());
  EXPECT_EQ(*flushed[0], net::error::bad_descriptor);
  EXPECT_FALSE(p.servers[0]->holds_tail());
  EXPECT_FALSE(flushed[1].has_value());  // its handler went with it
  ASSERT_TRUE(flushed[2].has_value());
  EXPECT_FALSE(*flushed[2]);
  expect_only_the_third_sent(p, reused_listener);
}

TEST(SendBatch, APeersResetReachesTheFlushsHandler) {
  pairs p(1);
  auto& s = *p.servers[0];
  reset_by_peer(p, 0);
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

// A writer as the session is, with a shortfall handler: told only when the socket did not take its
// bytes whole; then, with no error, it flushes the tail the socket kept.
struct told_writer {
  ws_socket* s = nullptr;
  int told = 0;
  std::optional<error_code> error;    // what it was told, if an error
  std::optional<error_code> flushed;  // its flush's end, if it had to flush

  static void shortfall(void* ctx, const error_code& ec) {
    auto* w = static_cast<told_writer*>(ctx);
    ++w->told;
    if (ec) {
      w->error = ec;
      return;
    }
    EXPECT_TRUE(w->s->holds_tail());
    w->s->async_flush([w](error_code e, std::size_t) { w->flushed = e; });
  }
  // Writes `bytes` on offer; if the socket keeps them as its tail (the batch's buffer could not take
  // them), waits for its flush as the session does.
  void write(const std::string& bytes) {
    error_code ec;
    {
      send_batch::offer o(s, {&told_writer::shortfall, this});
      EXPECT_EQ(s->write_some(net::buffer(bytes), ec), bytes.size());
    }
    EXPECT_FALSE(ec);
    if (s->holds_tail()) s->async_flush([this](error_code e, std::size_t) { flushed = e; });
  }
};

std::vector<told_writer> writers_of(pairs& p) {
  std::vector<told_writer> w(p.servers.size());
  for (std::size_t i = 0; i < w.size(); ++i) w[i].s = &*p.servers[i];
  return w;
}

TEST(SendBatch, FramesInTheBatchsBufferLeaveTogetherAndNoOneIsToldWhenTheSocketsTakeThemWhole) {
  pairs p(20);
  auto w = writers_of(p);
  const auto submissions = send_batch::submissions(), sends = send_batch::sends();
  {
    send_batch::window win;
    for (std::size_t i = 0; i < w.size(); ++i) {
      w[i].write("frame " + std::to_string(i));
      w[i].write("|next " + std::to_string(i));  // right after: joins it in the buffer
      EXPECT_FALSE(w[i].s->holds_tail());   // the socket keeps nothing
      EXPECT_TRUE(w[i].s->writable_now());  // and the writer goes on writing at once
    }
    for (auto& c : p.clients) EXPECT_EQ(available(*c), "");
  }
  for (auto& x : w) {
    EXPECT_EQ(x.told, 0);
    EXPECT_FALSE(x.flushed.has_value());
    EXPECT_FALSE(x.s->holds_tail());
  }
  for (std::size_t i = 0; i < p.clients.size(); ++i) {
    std::string got, want = "frame " + std::to_string(i) + "|next " + std::to_string(i);
    p.run_until([&] { return (got += available(*p.clients[i])).size() >= want.size(); });
    EXPECT_EQ(got, want);
  }
  EXPECT_EQ(send_batch::submissions() - submissions, 1u);
  EXPECT_EQ(send_batch::sends() - sends, p.servers.size());  // one send a socket: its two frames together
}

TEST(SendBatch, AWriteAfterAnotherSocketsTakesTheWaitingBytesAsTheTailAndGoesBehindThem) {
  pairs p(2);
  auto w = writers_of(p);
  const auto sends = send_batch::sends();
  {
    send_batch::window win;
    w[0].write("a1");
    w[1].write("b1");
    w[0].write("|a2");  // not right after its own: the buffered bytes become its tail, this queues behind
    EXPECT_TRUE(w[0].s->holds_tail());
    EXPECT_FALSE(w[0].s->writable_now());
    // A write of Beast's (a close frame, say) does the same, and completes at once behind them.
    bool done = false;
    w[1].s->async_write_some(net::buffer(std::string_view("|control")), [&done](error_code, std::size_t) { done = true; });
    EXPECT_TRUE(w[1].s->holds_tail());
    p.run_until([&] { return done; });
    for (auto& c : p.clients) EXPECT_EQ(available(*c), "");
  }
  p.run_until([&] { return w[0].flushed.has_value(); });
  EXPECT_FALSE(*w[0].flushed);
  std::string got0, got1;
  p.run_until([&] {
    got0 += available(*p.clients[0]);
    got1 += available(*p.clients[1]);
    return got0.size() >= 5 && got1.size() >= 10;
  });
  EXPECT_EQ(got0, "a1|a2");
  EXPECT_EQ(got1, "b1|control");
  EXPECT_EQ(send_batch::sends() - sends, 2u);  // still one send a socket, from its tail
  for (auto& x : w) {
    EXPECT_EQ(x.told, 0);
    EXPECT_FALSE(x.s->holds_tail());
  }
}

TEST(SendBatch, WhatTheSocketDoesNotTakeOfABufferedFrameIsTheTailItsWriterIsToldToFlush) {
  pairs p(3, 16 * 1024);
  auto w = writers_of(p);
  std::vector<std::string> sent(p.servers.size());
  {
    send_batch::window win;
    for (std::size_t i = 0; i < w.size(); ++i) {
      sent[i] = std::string(400 * 1024, static_cast<char>('a' + i));
      for (std::size_t k = 0; k < sent[i].size(); k += 97) sent[i][k] = static_cast<char>('0' + k % 10);
      w[i].write(sent[i]);
      EXPECT_FALSE(w[i].s->holds_tail());
    }
  }
  for (std::size_t i = 0; i < w.size(); ++i) {
    EXPECT_EQ(w[i].told, 1) << "the socket took part of it";
    EXPECT_FALSE(w[i].error.has_value());
    EXPECT_TRUE(w[i].s->holds_tail());
    EXPECT_FALSE(w[i].s->writable_now());
    // A write of Beast's made meanwhile queues behind the tail and completes at once.
    w[i].s->async_write_some(net::buffer(std::string_view("|control")), [](error_code, std::size_t) {});
    sent[i] += "|control";
  }
  std::vector<std::string> got(p.clients.size());
  p.run_until([&] {
    bool all = true;
    for (std::size_t i = 0; i < p.clients.size(); ++i) {
      got[i] += available(*p.clients[i]);
      all = all && got[i].size() >= sent[i].size() && w[i].flushed.has_value();
    }
    return all;
  });
  for (std::size_t i = 0; i < p.clients.size(); ++i) {
    EXPECT_EQ(got[i], sent[i]) << i;
    EXPECT_FALSE(*w[i].flushed);
    EXPECT_FALSE(w[i].s->holds_tail());
  }
}

TEST(SendBatch, ABufferedFramesSocketClosedOrGoneBeforeTheWindowClosesSendsNothing) {
  pairs p(3);
  auto w = writers_of(p);
  std::optional<tcp::socket> reused;
  tcp::acceptor reused_listener(p.ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0));
  {
    send_batch::window win;
    for (std::size_t i = 0; i < w.size(); ++i) w[i].write("bytes " + std::to_string(i));
    close_so_its_number_is_taken(p, reused_listener, reused);
    p.servers[1].reset();  // leaves the batch as it is destroyed
  }
  ASSERT_TRUE(w[0].error.has_value());
  EXPECT_EQ(*w[0].error, net::error::bad_descriptor);
  EXPECT_EQ(w[1].told, 0);
  EXPECT_EQ(w[2].told, 0);
  expect_only_the_third_sent(p, reused_listener);
}

TEST(SendBatch, APeersResetIsToldToTheBufferedFramesWriter) {
  pairs p(1);
  auto w = writers_of(p);
  reset_by_peer(p, 0);
  {
    send_batch::window win;
    w[0].write("to nobody");
  }
  EXPECT_EQ(w[0].told, 1);
  ASSERT_TRUE(w[0].error.has_value());
  EXPECT_TRUE(*w[0].error);
  EXPECT_FALSE(w[0].s->holds_tail());
}

TEST(SendBatch, ATeardownWaitsForTheBufferedFrame) {
  pairs p(1);
  auto w = writers_of(p);
  std::optional<error_code> torn;
  {
    send_batch::window win;
    w[0].write("last words");
    async_teardown(beast::role_type::server, *w[0].s, [&torn](error_code ec) { torn = ec; });
    EXPECT_FALSE(torn.has_value());
  }
  std::string got;
  bool eof = false;
  p.run_until([&] {
    char buf[64];
    auto n = ::recv(p.clients[0]->native_handle(), buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<std::size_t>(n));
    if (n == 0) eof = true;
    return eof;
  });
  EXPECT_EQ(got, "last words");  // the frame, then the shutdown: not the other way round
  p.clients[0]->close();
  p.run_until([&] { return torn.has_value(); });
}

}  // namespace
}  // namespace sg::io
