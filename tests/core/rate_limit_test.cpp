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

// The sweep every 4,096th operation used to erase the bucket just inserted for a new key (it is full),
// and the lookup after it dereferenced end(): a crash at ~4,100 requests with a generous rate.
TEST(TokenBuckets, HundredThousandOperationsOverTenThousandKeys) {
  token_buckets b(100000.0, 200000.0);
  auto t0 = token_buckets::clock::now();
  std::uint64_t granted = 0;
  for (int i = 0; i < 100000; ++i) {
    auto key = "10.0." + std::to_string(i % 10000 / 256) + "." + std::to_string(i % 256);
    auto now = t0 + std::chrono::microseconds(i);
    if (b.take(key, 1, now) == 0) ++granted;
    b.charge(key, 0.5, now);
    EXPECT_EQ(b.wait_ms(key, now), 0);
  }
  EXPECT_EQ(granted, 100000u);
  EXPECT_LE(b.size(), 10000u);
}

TEST(TokenBuckets, FullBucketsAreSweptSoTheMapStaysSmall) {
  token_buckets b(1000.0, 1.0);
  auto t0 = token_buckets::clock::now();
  for (int i = 0; i < 20000; ++i) EXPECT_EQ(b.take("k" + std::to_string(i), 1, t0 + std::chrono::milliseconds(i)), 0);
  // Each bucket refills in 1 ms: every sweep leaves at most the last 4,096 keys.
  EXPECT_LE(b.size(), token_buckets::sweep_every);
}

TEST(TokenBuckets, DistinctKeysPastTheCapAreRefusedNotRemembered) {
  token_buckets b(1.0, 1.0, 1000);  // one per second, at most 1,000 keys tracked
  auto t0 = token_buckets::clock::now();
  int granted = 0, refused = 0;
  for (int i = 0; i < 5000; ++i) (b.take("flood" + std::to_string(i), 1, t0) == 0 ? granted : refused)++;
  EXPECT_EQ(granted, 1000);
  EXPECT_EQ(refused, 4000);
  EXPECT_LE(b.size(), 1000u);
  EXPECT_GT(b.take("flood0", 1, t0), 0);  // a tracked key keeps its own (empty) bucket
  // Once the tracked buckets have refilled they are swept and new keys are served again.
  EXPECT_EQ(b.take("late", 1, t0 + std::chrono::seconds(2)), 0);
  EXPECT_LE(b.size(), 1000u);
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
