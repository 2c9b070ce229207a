// The per-shard late flush: flushes noted while the shard runs something run after it, together in
// one posted handler; one noted by a flush runs in the next; the shutdown lets every held
// connection go; 10^5 flushes over thousands of runs keep order and count.
#include "net/late_writes.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <vector>

namespace sg::io {
namespace {

TEST(LateWrites, FlushesNotedWhileAHandlerRunsRunAfterItInOneHandlerInOrder) {
  net::io_context ioc;
  auto& lw = late_writes::of(ioc.get_executor());
  std::vector<int> order;
  net::post(ioc, [&] {
    for (int i = 0; i < 3; ++i) lw.add([&order, i] { order.push_back(i); });
    EXPECT_EQ(lw.waiting(), 3u);
    EXPECT_TRUE(order.empty());  // nothing runs inside the handler that noted them
    net::post(ioc, [&] { order.push_back(100); });  // posted after the first note: runs after the flushes
  });
  EXPECT_EQ(ioc.run(), 3u);  // the handler, one flush run for all three, the later post
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 100}));
  EXPECT_EQ(lw.waiting(), 0u);
}

TEST(LateWrites, AFlushNotedByAFlushRunsInTheNextRun) {
  net::io_context ioc;
  auto& lw = late_writes::of(ioc.get_executor());
  int runs = 0, second = 0;
  lw.add([&] {
    ++runs;
    lw.add([&] { ++second; });
    EXPECT_EQ(second, 0);
  });
  ioc.run();
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(second, 1);
}

TEST(LateWrites, ShutdownLetsGoOfTheConnectionsTheFlushesHold) {
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> seen = held;
  bool ran = false;
  {
    net::io_context ioc;
    late_writes::of(ioc.get_executor()).add([h = std::move(held), &ran] { ran = true; });
    EXPECT_FALSE(seen.expired());
  }  // destroyed without running
  EXPECT_FALSE(ran);
  EXPECT_TRUE(seen.expired());
}

TEST(LateWrites, AHundredThousandFlushesOverThousandsOfRunsEachRunOnce) {
  net::io_context ioc;
  auto& lw = late_writes::of(ioc.get_executor());
  constexpr int total = 100'000, per_run = 37;
  std::vector<int> count(total, 0);
  int next = 0, handlers = 0;
  std::function<void()> note = [&] {
    ++handlers;
    for (int k = 0; k < per_run && next < total; ++k, ++next) lw.add([&count, i = next] { ++count[i]; });
    if (next < total) net::post(ioc, note);
  };
  net::post(ioc, note);
  ioc.run();
  for (int i = 0; i < total; ++i) ASSERT_EQ(count[i], 1) << i;
  EXPECT_EQ(handlers, (total + per_run - 1) / per_run);
  EXPECT_EQ(lw.waiting(), 0u);
}

}  // namespace
}  // namespace sg::io
