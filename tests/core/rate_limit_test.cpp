// Token buckets refill with time; concurrency limits count holders per key.
#include "core/rate_limit.hpp"

#include <gtest/gtest.h>

namespace sg::core {
namespace {

using namespace std::chrono_literals;

TEST(TokenBuckets, BurstThenRefill) {
  token_buckets b(2.0, 3.0);  // 2 per second, burst 3
  auto t0 = token_buckets::clock::now();
  EXPECT_EQ(b.take("ip", 1, t0), 0);
  EXPECT_EQ(b.take("ip", 1, t0), 0);
  EXPECT_EQ(b.take("ip", 1, t0), 0);
  EXPECT_EQ(b.take("ip", 1, t0), 500);  // one token takes half a second at 2/s
  EXPECT_EQ(b.take("other", 1, t0), 0);  // keys are independent
  EXPECT_EQ(b.take("ip", 1, t0 + 500ms), 0);
  EXPECT_GT(b.take("ip", 1, t0 + 500ms), 0);
  EXPECT_EQ(b.take("ip", 1, t0 + 10s), 0);  // refilled, capped at the burst
  EXPECT_EQ(b.take("ip", 1, t0 + 10s), 0);
  EXPECT_EQ(b.take("ip", 1, t0 + 10s), 0);
  EXPECT_GT(b.take("ip", 1, t0 + 10s), 0);
}

TEST(TokenBuckets, ChargeAfterTheFactDelaysTheNext) {
  token_buckets b(100.0, 100.0);  // 100 tokens per second
  auto t0 = token_buckets::clock::now();
  EXPECT_EQ(b.wait_ms("u", t0), 0);
  b.charge("u", 300, t0);  // used 300: 200 in debt
  EXPECT_EQ(b.wait_ms("u", t0), 2010);
  EXPECT_EQ(b.wait_ms("u", t0 + 2020ms), 0);
}

TEST(TokenBuckets, ZeroRateIsUnlimited) {
  token_buckets b(0, 0);
  for (int i = 0; i < 1000; ++i) EXPECT_EQ(b.take("k"), 0);
  EXPECT_FALSE(b.enabled());
}

TEST(ConcurrencyLimit, AcquireRelease) {
  concurrency_limit c(2);
  EXPECT_TRUE(c.try_acquire("a"));
  EXPECT_TRUE(c.try_acquire("a"));
  EXPECT_FALSE(c.try_acquire("a"));
  EXPECT_TRUE(c.try_acquire("b"));
  c.release("a");
  EXPECT_TRUE(c.try_acquire("a"));
  EXPECT_EQ(c.count("a"), 2u);
  concurrency_limit unlimited(0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(unlimited.try_acquire("x"));
}

}  // namespace
}  // namespace sg::core
