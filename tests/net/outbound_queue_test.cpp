// Queue policy: one write in flight, merging of a lagging reader's chunks, the hard cap.
#include "net/outbound_queue.hpp"

#include <gtest/gtest.h>

namespace sg::io {
namespace {

using proto::make_chunk;
using push_result = outbound_queue::push_result;

TEST(OutboundQueue, OneWriteInFlight) {
  outbound_queue q({0, 1 << 20});
  EXPECT_EQ(q.push(proto::make_pong("a")), push_result::queued);
  auto first = q.begin_write();
  ASSERT_TRUE(first);
  EXPECT_FALSE(q.begin_write());  // still writing
  q.push(proto::make_pong("b"));
  q.end_write();
  auto second = q.begin_write();
  ASSERT_TRUE(second);
  EXPECT_NE(first, second);
  q.end_write();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(OutboundQueue, ChunkBeingWrittenIsNeverMergedInto) {
  outbound_queue q({0, 1 << 20});
  q.push(make_chunk("s", 2, "a", "p"));
  q.begin_write();
  EXPECT_EQ(q.push(make_chunk("s", 3, "b", "p")), push_result::queued);
  EXPECT_EQ(q.push(make_chunk("s", 4, "c", "p")), push_result::merged);
  EXPECT_EQ(q.size(), 2u);
  q.end_write();
  auto m = q.begin_write();
  EXPECT_EQ(m->first_seq, 3u);
  EXPECT_EQ(m->seq, 4u);
  EXPECT_EQ(m->content, "bc");
}

TEST(OutboundQueue, MergesOnlyConsecutiveChunksOfTheSameStream) {
  outbound_queue q({0, 1 << 20});
  q.push(proto::make_pong(""));
  q.begin_write();
  q.push(make_chunk("a", 2, "a2", "p"));
  q.push(make_chunk("b", 7, "b7", "p"));
  EXPECT_EQ(q.push(make_chunk("a", 3, "a3", "p")), push_result::merged);  // b's chunk in between is another stream
  EXPECT_EQ(q.push(make_chunk("b", 8, "b8", "p")), push_result::merged);
  q.push(proto::make_progress("a", 4, "finalizing", "x", 90));
  EXPECT_EQ(q.push(make_chunk("a", 5, "a5", "p")), push_result::queued);  // a progress event intervenes
  EXPECT_EQ(q.push(make_chunk("b", 10, "b10", "p")), push_result::queued);  // seq 9 missing: no merge
  EXPECT_EQ(q.size(), 6u);
  EXPECT_EQ(q.merged_total(), 2u);
}

TEST(OutboundQueue, MergeThresholdDefersMerging) {
  outbound_queue q({1000, 1 << 20});
  q.push(proto::make_pong(""));
  q.begin_write();
  std::uint64_t seq = 2;
  q.push(make_chunk("s", seq++, "x", "p"));
  EXPECT_EQ(q.push(make_chunk("s", seq++, "y", "p")), push_result::queued);  // below 1000 waiting bytes
  while (q.bytes() < 1000) EXPECT_EQ(q.push(make_chunk("s", seq++, "z", "p")), push_result::queued);
  auto before = q.size();
  EXPECT_EQ(q.push(make_chunk("s", seq + 5, "w", "p")), push_result::queued);  // a seq gap never merges
  EXPECT_EQ(q.size(), before + 1);
  EXPECT_EQ(q.push(make_chunk("s", seq + 6, "v", "p")), push_result::merged);  // past the threshold
  EXPECT_EQ(q.size(), before + 1);
}

TEST(OutboundQueue, BytesAreTrackedAcrossMerges) {
  outbound_queue q({0, 1 << 20});
  q.push(proto::make_pong(""));
  q.begin_write();
  std::size_t pong = proto::make_pong("")->json().size();
  q.push(make_chunk("s", 1, "a", "p"));
  q.push(make_chunk("s", 2, "b", "p"));
  auto merged = proto::merge_chunks(*make_chunk("s", 1, "a", "p"), *make_chunk("s", 2, "b", "p"));
  // While the merge waits its frame is not made: it counts for a bound of it, never less.
  EXPECT_GE(q.bytes(), pong + merged->json().size());
  EXPECT_LE(q.bytes(), pong + merged->json().size() + 48);
  q.end_write();
  auto m = q.begin_write();
  EXPECT_EQ(m->json(), merged->json());
  EXPECT_EQ(q.bytes(), merged->json().size());  // exact once the frame is made
  q.end_write();
  EXPECT_EQ(q.bytes(), 0u);
}

// A reader that lags by 20,000 chunks (text with quotes, newlines, multi-byte and invalid UTF-8)
// gets one frame, byte for byte the fold of merge_chunks over them; each merge only appends, so
// the backlog costs its length in work, not its square. Dropping the waiting merge leaves 0 bytes.
TEST(OutboundQueue, ALongBacklogMergesIntoOneExactFrame) {
  outbound_queue q({0, 1 << 30});
  q.push(proto::make_pong(""));
  q.begin_write();
  const std::string pieces[] = {" word", " \"quoted\"", "\nline", " caf\xc3\xa9", " \xff\xfe bad", " \\ back", "\t"};
  // merge_chunks(a, b) is make_chunk of a's text then b's, b's seq and dueUs, a's first seq.
  std::string text;
  auto fold_of = [&](std::uint64_t last) {
    return make_chunk("s", last, text, "sess\"ion", static_cast<std::int64_t>(1000 * last), last == 2 ? 0 : 2);
  };
  EXPECT_EQ(proto::merge_chunks(*make_chunk("s", 2, "a", "sess\"ion", 2000), *make_chunk("s", 3, "b", "sess\"ion", 3000))->json(),
            make_chunk("s", 3, "ab", "sess\"ion", 3000, 2)->json());
  constexpr std::uint64_t n = 20000;
  for (std::uint64_t seq = 2; seq < 2 + n; ++seq) {
    auto c = make_chunk("s", seq, pieces[seq % 7], "sess\"ion", static_cast<std::int64_t>(1000 * seq));
    text += pieces[seq % 7];
    auto r = q.push(c);
    ASSERT_EQ(r, seq == 2 ? push_result::queued : push_result::merged);
    if (seq % 1000 == 0) {
      // The bound holds all along: never below the frame it stands for.
      ASSERT_GE(q.bytes(), proto::make_pong("")->json().size() + fold_of(seq)->json().size());
    }
  }
  auto fold = fold_of(n + 1);
  EXPECT_EQ(q.merged_total(), n - 1);
  EXPECT_LE(q.bytes(), proto::make_pong("")->json().size() + fold->json().size() + 48);
  q.end_write();
  auto m = q.begin_write();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->json(), fold->json());
  EXPECT_EQ(m->content, fold->content);
  EXPECT_EQ(m->first_seq, 2u);
  EXPECT_EQ(m->seq, n + 1);
  EXPECT_EQ(m->due_us, static_cast<std::int64_t>(1000 * (n + 1)));
  EXPECT_EQ(q.bytes(), fold->json().size());
  q.end_write();

  q.push(proto::make_pong(""));
  q.begin_write();
  for (std::uint64_t seq = 1; seq <= 100; ++seq) q.push(make_chunk("t", seq, "x\"y", "p"));
  EXPECT_EQ(q.size(), 2u);
  q.clear_waiting();
  q.end_write();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

// A backlog written in one go: the events leave oldest first with their merges' frames made, none
// is merged into while written, and the write's end removes them all (bytes back to what waits).
TEST(OutboundQueue, ABacklogIsWrittenTogetherAndNeverMergedIntoMeanwhile) {
  outbound_queue q({0, 1 << 20});
  q.push(proto::make_pong(""));
  q.begin_write();
  q.push(make_chunk("s", 2, "a", "p"));
  q.push(make_chunk("s", 3, "b", "p"));  // merged into seq 2's
  q.push(proto::make_progress("s", 4, "finalizing", "x", 90));
  q.push(make_chunk("s", 5, "c", "p"));
  EXPECT_TRUE(q.begin_write_all(64).empty());  // the pong's write is still in flight
  q.end_write();
  auto batch = q.begin_write_all(2);  // bounded by its argument
  ASSERT_EQ(batch.size(), 2u);
  EXPECT_EQ(batch[0]->json(), make_chunk("s", 3, "ab", "p", 0, 2)->json());
  EXPECT_EQ(batch[1]->type, proto::event_type::progress);
  EXPECT_TRUE(q.begin_write_all(64).empty());
  EXPECT_FALSE(q.begin_write());
  // seq 6 follows seq 5, which waits outside the batch: merged into it, never into the batch.
  EXPECT_EQ(q.push(make_chunk("s", 6, "d", "p")), push_result::merged);
  q.end_write();
  EXPECT_EQ(q.size(), 1u);
  auto rest = q.begin_write_all(64);
  ASSERT_EQ(rest.size(), 1u);
  EXPECT_EQ(rest[0]->json(), make_chunk("s", 6, "cd", "p", 0, 5)->json());
  EXPECT_EQ(q.bytes(), rest[0]->json().size());
  q.end_write();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);

  // A chunk after a batch's last chunk is queued on its own: the batch is being written.
  q.push(make_chunk("t", 1, "x", "p"));
  ASSERT_EQ(q.begin_write_all(64).size(), 1u);
  EXPECT_EQ(q.push(make_chunk("t", 2, "y", "p")), push_result::queued);
  q.clear_waiting();
  EXPECT_EQ(q.size(), 1u);
  q.end_write();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

TEST(OutboundQueue, OverflowPastTheHardCap) {
  outbound_queue q({0, 300});
  q.push(proto::make_pong(""));
  q.begin_write();
  push_result r = push_result::queued;
  for (std::uint64_t i = 0; i < 50 && r != push_result::overflow; ++i)
    r = q.push(proto::make_progress("s", 2 + i, "analyzing", "x", 1));  // progress never merges
  EXPECT_EQ(r, push_result::overflow);
  q.clear_waiting();
  EXPECT_EQ(q.size(), 1u);  // the event being written stays until its write completes
  q.end_write();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
}

// An idle connection's queue holds nothing; storage is given back whenever the queue is drained.
TEST(OutboundQueue, HoldsNoStorageWhenIdleAndGivesABurstBack) {
  outbound_queue q({1 << 30, 1 << 30});  // no merging: every event stays its own item
  EXPECT_EQ(q.storage(), 0u);
  constexpr int n = 100000;
  std::size_t order_errors = 0;
  std::uint64_t expect = 1;
  // Writes trail pushes (one write per two pushes, then the rest): the queue's front moves all along.
  for (int i = 1; i <= n; ++i) {
    q.push(make_chunk("s" + std::to_string(i % 7), static_cast<std::uint64_t>(i), "x", "p"));
    if (i % 2 == 0) {
      auto ev = q.begin_write();
      ASSERT_TRUE(ev);
      if (ev->seq != expect) ++order_errors;
      ++expect;
      q.end_write();
    }
  }
  EXPECT_EQ(q.size(), static_cast<std::size_t>(n / 2));
  while (auto ev = q.begin_write()) {
    if (ev->seq != expect) ++order_errors;
    ++expect;
    q.end_write();
  }
  EXPECT_EQ(order_errors, 0u);
  EXPECT_EQ(expect, static_cast<std::uint64_t>(n) + 1);
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.bytes(), 0u);
  EXPECT_EQ(q.storage(), 0u);
  // One event written and gone: nothing is kept either (an idle connection after its hello).
  q.push(make_chunk("s", 1, "x", "p"));
  EXPECT_GT(q.storage(), 0u);
  ASSERT_TRUE(q.begin_write());
  q.end_write();
  EXPECT_EQ(q.storage(), 0u);
}

// An SSE response's queue keeps room for a few events once drained (one allocation per event less);
// a burst's storage is still given back.
TEST(OutboundQueue, KeepsRoomForAFewEventsWhenAskedAndStillGivesABurstBack) {
  outbound_queue q({1 << 30, 1 << 30, true});
  EXPECT_EQ(q.storage(), 0u);
  for (std::uint64_t i = 1; i <= 100000; ++i) {
    q.push(make_chunk("s", i, "x", "p"));
    auto ev = q.begin_write();
    ASSERT_TRUE(ev);
    ASSERT_EQ(ev->seq, i);
    q.end_write();
    ASSERT_TRUE(q.empty());
    ASSERT_GE(q.storage(), 1u);  // the slot is kept: the next push allocates nothing
    ASSERT_LE(q.storage(), outbound_queue::kept_slots);
  }
  for (std::uint64_t i = 1; i <= 100; ++i) q.push(make_chunk("s" + std::to_string(i), i, "x", "p"));
  EXPECT_GT(q.storage(), outbound_queue::kept_slots);
  while (q.begin_write()) q.end_write();
  EXPECT_TRUE(q.empty());
  EXPECT_EQ(q.storage(), 0u);
}

}  // namespace
}  // namespace sg::io
