// The pump both transports share: one write of up to N events, the shared gauge, the counters, and
// the lateness of what reached the socket.
#include "net/outbound_pump.hpp"

#include "core/clock.hpp"
#include "gateway/app.hpp"

#include <gtest/gtest.h>

namespace sg::io {
namespace {

using proto::make_chunk;
using push_result = outbound_queue::push_result;

TEST(OutboundPump, ABatchIsOneWriteOfUpToMaxEventsAndTheGaugeReturnsToZero) {
  gateway::counters stats;
  {
    outbound_pump p(stats, {0, 1 << 20});
    std::size_t total = 0;
    for (int i = 0; i < 5; ++i) {
      auto ev = proto::make_pong("r" + std::to_string(i));
      total += ev->json().size();
      EXPECT_EQ(p.push(std::move(ev)), push_result::queued);
    }
    EXPECT_EQ(stats.outbound_bytes.load(), static_cast<std::int64_t>(total));
    auto& first = p.begin_write(3);
    ASSERT_EQ(first.size(), 3u);
    EXPECT_NE(first[0]->json().find("\"r0\""), std::string::npos);
    EXPECT_NE(first[2]->json().find("\"r2\""), std::string::npos);
    EXPECT_TRUE(p.begin_write(3).empty());  // one write in flight
    p.end_write(true);
    EXPECT_EQ(stats.events_sent.load(), 3u);
    auto& rest = p.begin_write(3);
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_NE(rest[0]->json().find("\"r3\""), std::string::npos);
    p.end_write(true);
    EXPECT_EQ(stats.events_sent.load(), 5u);
    EXPECT_EQ(stats.outbound_bytes.load(), 0);
    // What a session drops when it ends leaves the gauge with it.
    p.push(proto::make_pong("left"));
    EXPECT_GT(stats.outbound_bytes.load(), 0);
    p.clear_waiting();
    EXPECT_EQ(stats.outbound_bytes.load(), 0);
  }
}

TEST(OutboundPump, MergesAndSlowClosesAreCounted) {
  gateway::counters stats;
  outbound_pump p(stats, {0, 400});
  p.push(make_chunk("s", 2, "a", "p"));
  p.begin_write(1);
  EXPECT_EQ(p.push(make_chunk("s", 3, "b", "p")), push_result::queued);
  EXPECT_EQ(p.push(make_chunk("s", 4, "c", "p")), push_result::merged);
  EXPECT_EQ(stats.merged_chunks.load(), 1u);
  EXPECT_EQ(stats.slow_closes.load(), 0u);
  auto r = push_result::queued;
  for (int i = 0; i < 20 && r != push_result::overflow; ++i) r = p.push(proto::make_pong(std::string(40, 'x')));
  EXPECT_EQ(r, push_result::overflow);
  EXPECT_EQ(stats.slow_closes.load(), 1u);
  p.clear_waiting();
  // Only the write in flight is still counted, and it goes when it ends.
  EXPECT_EQ(stats.outbound_bytes.load(), static_cast<std::int64_t>(p.bytes()));
  p.end_write(false);
  EXPECT_EQ(stats.outbound_bytes.load(), 0);
}

TEST(OutboundPump, LatenessAndSentEventsCountOnlyWritesThatReachedTheSocket) {
  gateway::counters stats;
  outbound_pump p(stats, {0, 1 << 20});
  auto due = core::now_us() - 3000;
  p.push(make_chunk("s", 2, "a", "p", due));
  ASSERT_EQ(p.begin_write(1).size(), 1u);
  p.push(make_chunk("s", 3, "b", "p", due));  // not merged into the chunk being written
  p.push(proto::make_pong("no due time"));
  p.end_write(false);  // the socket failed
  EXPECT_EQ(stats.chunk_lateness.count(), 0u);
  EXPECT_EQ(stats.events_sent.load(), 0u);
  ASSERT_EQ(p.begin_write(64).size(), 2u);
  p.end_write(true);
  EXPECT_EQ(stats.chunk_lateness.count(), 1u);  // the pong has no due time
  EXPECT_EQ(stats.events_sent.load(), 2u);
}

TEST(OutboundPump, AMergedChunkIsWrittenWithItsFrameMadeAndCountsForItsExactSize) {
  gateway::counters stats;
  outbound_pump p(stats, {0, 1 << 20});
  p.push(proto::make_pong(""));
  p.begin_write(1);
  p.push(make_chunk("s", 2, "a", "p"));
  p.push(make_chunk("s", 3, "b", "p"));
  p.end_write(true);
  auto& batch = p.begin_write(1);
  ASSERT_EQ(batch.size(), 1u);
  EXPECT_EQ(batch[0]->content, "ab");
  EXPECT_NE(batch[0]->json().find("\"firstSeq\":2"), std::string::npos);
  EXPECT_EQ(stats.outbound_bytes.load(), static_cast<std::int64_t>(batch[0]->json().size()));
}

}  // namespace
}  // namespace sg::io
