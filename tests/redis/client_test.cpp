// The Redis client and subscriber against a real redis-server of the test's own.
#include "integration/redis_server.hpp"
#include "redis/client.hpp"
#include "redis/subscriber.hpp"

#include <gtest/gtest.h>

#include <future>
#include <thread>

namespace sg::redis {
namespace {

using namespace std::chrono_literals;

// An event loop on a thread of its own, and a strand on it for the client.
struct loop {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work = net::make_work_guard(ioc);
  std::thread thread{[this] { ioc.run(); }};
  ~loop() {
    work.reset();
    ioc.stop();
    thread.join();
  }
  net::any_io_executor strand() { return net::make_strand(ioc); }
};

options opts_for(const test::redis_server& srv) {
  options o;
  o.ep = parse_url(srv.url());
  o.request_timeout = 1000ms;
  o.backoff_min = 20ms;
  o.backoff_max = 200ms;
  return o;
}

// Waits for the client's state to become `up`.
bool wait_state(const std::shared_ptr<connection>& c, bool up, std::chrono::milliseconds timeout = 5s) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (c->connected() != up) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);  // polling a flag another thread sets
  }
  return true;
}

std::pair<error_code, reply> call(const std::shared_ptr<client>& c, command cmd) {
  std::promise<std::pair<error_code, reply>> p;
  c->exec(std::move(cmd), [&](error_code ec, reply r) { p.set_value({ec, std::move(r)}); });
  auto f = p.get_future();
  if (f.wait_for(10s) != std::future_status::ready) throw std::runtime_error("no answer");
  return f.get();
}

TEST(RedisClient, TenThousandPipelinedCommandsAnswerInOrder) {
  test::redis_server srv;
  loop l;
  auto c = client::create(l.strand(), opts_for(srv));
  c->start();
  ASSERT_TRUE(wait_state(c, true));
  std::promise<void> done;
  std::vector<long long> got;
  std::mutex mu;
  constexpr int n = 10000;
  for (int i = 0; i < n; ++i)
    c->exec({"INCR", "counter"}, [&, i](error_code ec, reply r) {
      std::lock_guard lock(mu);
      EXPECT_FALSE(ec);
      got.push_back(r.integer);
      if (i == n - 1) done.set_value();
    });
  ASSERT_EQ(done.get_future().wait_for(20s), std::future_status::ready);
  ASSERT_EQ(got.size(), static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) EXPECT_EQ(got[i], i + 1);
  // A batch: replies in order, a Redis error is a reply (not an error_code).
  std::promise<std::vector<reply>> batch;
  c->exec(std::vector<command>{{"SET", "k", "v"}, {"GET", "k"}, {"INCR", "k"}, {"GET", "missing"}},
          [&](error_code ec, std::vector<reply> rs) {
            EXPECT_FALSE(ec);
            batch.set_value(std::move(rs));
          });
  auto rs = batch.get_future().get();
  ASSERT_EQ(rs.size(), 4u);
  EXPECT_EQ(rs[0].str, "OK");
  EXPECT_EQ(rs[1].str, "v");
  EXPECT_TRUE(rs[2].is_error());
  EXPECT_TRUE(rs[3].is_nil());
  c->stop();
}

TEST(RedisClient, AuthAndDatabaseFromTheUrl) {
  test::redis_server srv("pass-word_1");
  loop l;
  auto o = opts_for(srv);
  o.ep.db = 3;
  auto c = client::create(l.strand(), o);
  c->start();
  ASSERT_TRUE(wait_state(c, true));
  EXPECT_EQ(call(c, {"SET", "in3", "x"}).second.str, "OK");
  EXPECT_EQ(call(c, {"SELECT", "0"}).second.str, "OK");
  EXPECT_TRUE(call(c, {"GET", "in3"}).second.is_nil());  // db 0 does not have it
  c->stop();
  // A wrong password never comes up.
  o.ep.password = "wrong";
  auto bad = client::create(l.strand(), o);
  bad->start();
  EXPECT_FALSE(wait_state(bad, true, 500ms));
  EXPECT_EQ(call(bad, {"PING"}).first, make_error_code(errc::not_connected));
  bad->stop();
}

TEST(RedisClient, DownFailsAtOnceAndARestartedServerIsReconnected) {
  test::redis_server srv;
  loop l;
  auto c = client::create(l.strand(), opts_for(srv));
  std::atomic<int> ups{0}, downs{0};
  c->on_state([&](bool up) { (up ? ups : downs).fetch_add(1); });
  c->start();
  ASSERT_TRUE(wait_state(c, true));
  srv.stop();
  ASSERT_TRUE(wait_state(c, false));
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(call(c, {"PING"}).first, make_error_code(errc::not_connected));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);  // nothing waits for a server that is away
  srv.restart();
  ASSERT_TRUE(wait_state(c, true));
  EXPECT_EQ(call(c, {"PING"}).second.str, "PONG");
  EXPECT_GE(ups.load(), 2);
  EXPECT_GE(downs.load(), 1);
  c->stop();
}

TEST(RedisClient, ALateReplyTimesOutAndTheConnectionComesBack) {
  test::redis_server srv;
  loop l;
  auto c = client::create(l.strand(), opts_for(srv));  // 1 s request deadline
  c->start();
  ASSERT_TRUE(wait_state(c, true));
  // Another client pauses the server for 3 s: our PING cannot be answered in time.
  EXPECT_EQ(srv.command("CLIENT PAUSE 3000 ALL"), "+OK");
  auto t0 = std::chrono::steady_clock::now();
  auto [ec, r] = call(c, {"PING"});
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(ec, make_error_code(errc::timeout));
  EXPECT_GE(took, 900ms);
  EXPECT_LT(took, 2500ms);
  ASSERT_TRUE(wait_state(c, true, 10s));
  EXPECT_EQ(call(c, {"PING"}).second.str, "PONG");
  c->stop();
}

TEST(RedisClient, StopFailsWhatIsPendingOnce) {
  test::redis_server srv;
  loop l;
  auto c = client::create(l.strand(), opts_for(srv));
  c->start();
  ASSERT_TRUE(wait_state(c, true));
  EXPECT_EQ(srv.command("CLIENT PAUSE 2000 ALL"), "+OK");
  std::atomic<int> calls{0};
  std::promise<error_code> p;
  c->exec({"PING"}, [&](error_code ec, reply) {
    if (calls.fetch_add(1) == 0) p.set_value(ec);
  });
  c->stop();
  auto f = p.get_future();
  ASSERT_EQ(f.wait_for(5s), std::future_status::ready);
  EXPECT_EQ(f.get(), make_error_code(errc::stopped));
  std::this_thread::sleep_for(2500ms);  // past the pause: a second callback would have come by now
  EXPECT_EQ(calls.load(), 1);
}

TEST(RedisSubscriber, MessagesInOrderAcrossAServerRestartAndUnsubscribe) {
  test::redis_server srv;
  loop l;
  auto pub = client::create(l.strand(), opts_for(srv));
  auto sub = subscriber::create(l.strand(), opts_for(srv));
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::string, std::vector<std::string>> got;
  sub->on_message([&](const std::string& ch, const std::string& payload) {
    std::lock_guard lock(mu);
    got[ch].push_back(payload);
    cv.notify_all();
  });
  std::atomic<int> ups{0};
  sub->on_state([&](bool up) { ups += up; });
  pub->start();
  sub->start();
  for (int i = 0; i < 100; ++i) sub->subscribe("ch" + std::to_string(i));
  ASSERT_TRUE(wait_state(pub, true));
  std::promise<bool> subscribed;
  sub->when_subscribed("ch99", [&](bool ok) { subscribed.set_value(ok); });
  ASSERT_TRUE(subscribed.get_future().get());
  for (int i = 0; i < 100; ++i) {
    std::promise<bool> each;
    sub->when_subscribed("ch" + std::to_string(i), [&](bool ok) { each.set_value(ok); });
    ASSERT_TRUE(each.get_future().get());
  }
  // 10,000 messages on 100 channels, each channel's in order.
  std::vector<command> batch;
  for (int m = 0; m < 100; ++m)
    for (int i = 0; i < 100; ++i) batch.push_back({"PUBLISH", "ch" + std::to_string(i), std::to_string(m)});
  std::promise<void> sent;
  pub->exec(std::move(batch), [&](error_code ec, std::vector<reply>) {
    EXPECT_FALSE(ec);
    sent.set_value();
  });
  sent.get_future().get();
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 10s, [&] {
      std::size_t n = 0;
      for (auto& [ch, v] : got) n += v.size();
      return n == 10000;
    }));
    for (auto& [ch, v] : got)
      for (int m = 0; m < 100; ++m) EXPECT_EQ(v[m], std::to_string(m)) << ch;
    got.clear();
  }
  // A restart: every channel is subscribed again, then on_state(true) says so.
  int before = ups.load();
  srv.restart();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (ups.load() == before && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_GT(ups.load(), before);
  ASSERT_TRUE(wait_state(pub, true));
  auto [ec, r] = call(pub, {"PUBLISH", "ch7", "after"});
  EXPECT_EQ(r.integer, 1);
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return got["ch7"].size() == 1; }));
    EXPECT_EQ(got["ch7"][0], "after");
  }
  // Unsubscribed: the channel has no subscriber left, and a waiter is told.
  sub->unsubscribe("ch7");
  deadline = std::chrono::steady_clock::now() + 5s;
  while (call(pub, {"PUBLISH", "ch7", "x"}).second.integer != 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(call(pub, {"PUBLISH", "ch7", "x"}).second.integer, 0);
  std::promise<bool> gone;
  sub->when_subscribed("ch7", [&](bool ok) { gone.set_value(ok); });
  EXPECT_FALSE(gone.get_future().get());
  sub->stop();
  pub->stop();
}

}  // namespace
}  // namespace sg::redis
