// The per-shard idle watch: a ping at half the limit, the end at the limit, sign of life resets the
// silence, removal during a sweep, 10^5 additions and removals, and the timer stops when nothing is watched.
#include "net/idle_watch.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <random>
#include <set>
#include <vector>

namespace sg::io {
namespace {

using clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct probe : idle_watched {
  std::function<void(probe&)> on_ping, on_expired;
  clock::time_point since{};  // when it was added, or last heard from
  std::vector<clock::duration> pings, ends;  // silence at each ping and at the end
  void idle_ping() override {
    pings.push_back(clock::now() - since);
    if (on_ping) on_ping(*this);
  }
  void idle_expired() override {
    ends.push_back(clock::now() - since);
    if (on_expired) on_expired(*this);
  }
};

TEST(IdleWatch, PingsAtHalfTheLimitEndsAtTheLimitAndSignsOfLifeKeepAConnection) {
  net::io_context ioc{1};
  auto& watch = idle_watch::of(ioc.get_executor());
  constexpr auto limit = 200ms;
  std::vector<probe> silent(2000), lively(2000);
  for (auto& p : lively)
    p.on_ping = [](probe& self) {  // answers every ping at once, as a client's pong would
      self.since = clock::now();
      self.heard(self.since);
    };
  for (std::size_t i = 0; i < silent.size(); ++i) {
    silent[i].since = lively[i].since = clock::now();
    watch.add(silent[i], limit);
    watch.add(lively[i], limit);
  }
  EXPECT_EQ(watch.size(), 4000u);
  // Until every silent one has ended and every lively one was pinged twice (bounded).
  auto done = [&] {
    for (auto& p : silent)
      if (p.ends.empty()) return false;
    for (auto& p : lively)
      if (p.pings.size() < 2) return false;
    return true;
  };
  auto deadline = clock::now() + 20s;
  while (!done() && clock::now() < deadline) ioc.run_one_for(50ms);
  ASSERT_TRUE(done());
  for (auto& p : silent) {
    ASSERT_EQ(p.pings.size(), 1u);
    ASSERT_EQ(p.ends.size(), 1u);
    EXPECT_GE(p.pings[0], limit / 2);  // never early
    EXPECT_GE(p.ends[0], limit);
    EXPECT_FALSE(p.watched());
  }
  for (auto& p : lively) {
    EXPECT_TRUE(p.ends.empty());
    for (auto& s : p.pings) EXPECT_GE(s, limit / 2);
    EXPECT_TRUE(p.watched());
  }
  EXPECT_EQ(watch.size(), 2000u);
  for (auto& p : lively) watch.remove(p);
  EXPECT_EQ(watch.size(), 0u);
  // Nothing watched: the timer is not armed again, so the io_context runs out of work by itself.
  ioc.restart();
  ioc.run_for(10s);
  EXPECT_TRUE(ioc.stopped());
}

TEST(IdleWatch, AConnectionLetGoDuringASweepIsNotLookedAt) {
  net::io_context ioc{1};
  auto& watch = idle_watch::of(ioc.get_executor());
  probe a, b, c;
  watch.add(c, 8ms);
  watch.add(b, 8ms);
  watch.add(a, 8ms);  // the sweep looks at a, then b, then c
  a.on_expired = [&](probe&) {
    watch.remove(b);  // the one the sweep looks at next
    watch.remove(a);  // already let go: nothing happens
  };
  ioc.run_for(200ms);
  EXPECT_EQ(a.ends.size(), 1u);
  EXPECT_TRUE(b.ends.empty());
  EXPECT_TRUE(b.pings.size() <= 1u);
  EXPECT_EQ(c.ends.size(), 1u);
  EXPECT_EQ(watch.size(), 0u);
}

TEST(IdleWatch, ShutdownLetsGoOfEveryConnection) {
  std::vector<probe> probes(100);
  {
    net::io_context ioc{1};
    auto& watch = idle_watch::of(ioc.get_executor());
    for (auto& p : probes) watch.add(p, 600000ms);
    EXPECT_EQ(watch.size(), 100u);
  }
  for (auto& p : probes) EXPECT_FALSE(p.watched());
}

TEST(IdleWatch, HundredThousandAdditionsAndRemovalsOverThousandsOfConnections) {
  net::io_context ioc{1};
  auto& watch = idle_watch::of(ioc.get_executor());
  std::vector<probe> probes(4000);
  std::set<std::size_t> in;
  std::mt19937 rng(7);
  for (int op = 0; op < 100000; ++op) {
    auto i = rng() % probes.size();
    bool add = rng() % 2;
    if (add) {
      watch.add(probes[i], 600000ms);  // a second add of a watched one changes nothing
      in.insert(i);
    } else {
      watch.remove(probes[i]);
      in.erase(i);
    }
    if (op % 10000 == 0) {
      ASSERT_EQ(watch.size(), in.size());
    }
  }
  EXPECT_EQ(watch.size(), in.size());
  for (std::size_t i = 0; i < probes.size(); ++i) {
    EXPECT_EQ(probes[i].watched(), in.count(i) == 1) << i;
  }
  for (auto& p : probes) watch.remove(p);
  EXPECT_EQ(watch.size(), 0u);
}

}  // namespace
}  // namespace sg::io
