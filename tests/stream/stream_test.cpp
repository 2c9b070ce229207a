// The stream's event log: replay then live, exactly once; bounded log; terminal state.
#include "stream/stream.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <thread>

#if defined(__SANITIZE_ADDRESS__)
// From the sanitizer's allocator interface (its header ships with clang, not with GCC).
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#else
#include <malloc.h>
#endif

namespace sg::stream {
namespace {

struct recorder : subscriber {
  std::vector<proto::event_ptr> got;
  void deliver(proto::event_ptr ev) override { got.push_back(std::move(ev)); }
};

void publish_chunk(stream& s, const std::string& text) {
  s.append_text(text);
  s.publish(proto::make_chunk(s.id(), s.next_seq(), text, "p"));
}

TEST(Stream, SubscriberGetsReplayThenLiveExactlyOnce) {
  stream s("st", "p", "owner", "demo", 1 << 20);
  s.publish(proto::make_stream_start("st", "p", ""));
  publish_chunk(s, "a");
  publish_chunk(s, "b");
  auto r = std::make_shared<recorder>();
  EXPECT_EQ(s.subscribe(r, 1), stream::subscribe_result::ok);
  publish_chunk(s, "c");
  ASSERT_EQ(r->got.size(), 3u);
  EXPECT_EQ(r->got[0]->seq, 2u);
  EXPECT_EQ(r->got[2]->seq, 4u);
  EXPECT_EQ(s.info().text, "abc");
  // Subscribing again does not double the live flow.
  s.subscribe(r, 4);
  publish_chunk(s, "d");
  EXPECT_EQ(r->got.size(), 4u);
}

TEST(Stream, TerminalEventEndsTheStreamAndDropsSubscribers) {
  stream s("st", "p", "o", "demo", 1 << 20);
  s.publish(proto::make_stream_start("st", "p", ""));
  auto r = std::make_shared<recorder>();
  s.subscribe(r, 0);
  s.publish(proto::make_cancelled("st", s.next_seq()));
  EXPECT_TRUE(s.ended());
  EXPECT_EQ(s.info().st, state::cancelled);
  EXPECT_EQ(s.subscriber_count(), 0u);
  publish_chunk(s, "late");  // nothing follows a terminal event
  EXPECT_EQ(r->got.size(), 2u);
  auto r2 = std::make_shared<recorder>();
  EXPECT_EQ(s.subscribe(r2, 0), stream::subscribe_result::ended);
  EXPECT_EQ(r2->got.size(), 2u);
  EXPECT_GT(s.ended_at_ms(), 0);
}

// The checkpoint of a recorded answer takes the text only when it grew, and nothing once the stream
// is over (its end writes the answer); the store thread calls it while the producer publishes.
TEST(Stream, TheCheckpointTakesTheTextOnlyWhenItGrewAndNotOnceEnded) {
  stream s("st", "p", "o", "demo", 1 << 20);
  s.publish(proto::make_stream_start("st", "p", ""));
  EXPECT_EQ(s.text_to_checkpoint(), std::nullopt) << "no text yet";
  publish_chunk(s, "Hello");
  EXPECT_EQ(s.text_to_checkpoint(), "Hello");
  EXPECT_EQ(s.text_to_checkpoint(), std::nullopt) << "unchanged since the last checkpoint";
  publish_chunk(s, ", world");
  publish_chunk(s, "!");
  EXPECT_EQ(s.text_to_checkpoint(), "Hello, world!");
  publish_chunk(s, " More");
  s.publish(proto::make_cancelled("st", s.next_seq()));
  EXPECT_EQ(s.text_to_checkpoint(), std::nullopt) << "the end writes the answer, not the checkpoint";

  // From another thread while the producer appends: every text taken is a prefix of the final one,
  // each longer than the one before, and the last call after the producer is done sees all of it.
  stream t("st2", "p", "o", "demo", 1 << 20);
  t.publish(proto::make_stream_start("st2", "p", ""));
  std::vector<std::string> taken;
  std::atomic<bool> done{false};
  std::thread checkpointer([&] {
    while (!done.load()) {
      if (auto text = t.text_to_checkpoint()) taken.push_back(std::move(*text));
    }
    if (auto text = t.text_to_checkpoint()) taken.push_back(std::move(*text));
  });
  std::string all;
  for (int i = 0; i < 2000; ++i) {
    auto piece = std::to_string(i) + ",";
    publish_chunk(t, piece);
    all += piece;
  }
  done = true;
  checkpointer.join();
  ASSERT_FALSE(taken.empty());
  EXPECT_EQ(taken.back(), all);
  for (std::size_t i = 0; i < taken.size(); ++i) {
    EXPECT_EQ(all.compare(0, taken[i].size(), taken[i]), 0) << "checkpoint " << i << " is not a prefix";
    if (i) {
      EXPECT_GT(taken[i].size(), taken[i - 1].size());
    }
  }
}

// A resume at or past the end of a finished stream, or past the last event of a running one, is told
// so: nothing is delivered and no subscription is kept that nothing would ever close.
TEST(Stream, ResumeAtOrPastTheEndIsToldSo) {
  stream s("st", "p", "o", "demo", 1 << 20);
  s.publish(proto::make_stream_start("st", "p", ""));
  publish_chunk(s, "a");
  auto r = std::make_shared<recorder>();
  EXPECT_EQ(s.subscribe(r, 3), stream::subscribe_result::beyond_end);
  EXPECT_EQ(s.subscriber_count(), 0u);
  EXPECT_EQ(s.subscribe(r, 2), stream::subscribe_result::ok);  // at the live edge: waits for more
  s.unsubscribe(r.get());
  s.publish(proto::make_cancelled("st", s.next_seq()));
  auto late = std::make_shared<recorder>();
  EXPECT_EQ(s.subscribe(late, 3), stream::subscribe_result::past_end);
  EXPECT_EQ(s.subscribe(late, 99), stream::subscribe_result::past_end);
  EXPECT_TRUE(late->got.empty());
  EXPECT_EQ(s.subscribe(late, 2), stream::subscribe_result::ended);
  ASSERT_EQ(late->got.size(), 1u);
  EXPECT_EQ(late->got[0]->type, proto::event_type::stream_cancelled);
  EXPECT_EQ(s.last_event()->seq, 3u);
}

// A finished stream keeps its chunks compactly; a replay rebuilds every frame byte for byte as it
// was sent live, whatever point it starts from, trimmed log included.
TEST(Stream, FinishedStreamReplaysByteIdenticalFromItsCompactForm) {
  for (std::size_t log_max : {std::size_t{1} << 20, std::size_t{3000}}) {
    stream s("st_compact", "proj", "o", "demo", log_max);
    auto live = std::make_shared<recorder>();
    s.publish(proto::make_stream_start("st_compact", "proj", "req"));
    s.subscribe(live, 0);
    s.publish(proto::make_progress("st_compact", s.next_seq(), "generating", "Generating...", 40));
    std::string full;
    std::int64_t due = 1'700'000'000'000'000;
    for (int i = 0; i < 200; ++i) {
      // Escapes, multi-byte text, empty-looking whitespace, and dueUs that moves both ways.
      std::string t = i % 7 == 0 ? " \"q\"\n" : i % 5 == 0 ? " é€" : " w" + std::to_string(i);
      due += (i % 3 == 0) ? -1000 : 25000;
      s.append_text(t);
      full += t;
      s.publish(proto::make_chunk("st_compact", s.next_seq(), t, "proj", i % 11 == 0 ? 0 : due));
      if (i == 100) s.publish(proto::make_progress("st_compact", s.next_seq(), "generating", "Halfway", 60));
    }
    auto before_end = s.retained_bytes();
    s.publish(proto::make_complete("st_compact", s.next_seq(), full, {3, 200}, {10, 200, 999}));
    ASSERT_TRUE(s.ended());
    ASSERT_EQ(live->got.size(), 204u);
    auto last = s.info().last_seq;
    for (std::uint64_t after : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{2}, std::uint64_t{150}, last - 1}) {
      auto replay = std::make_shared<recorder>();
      auto r = s.subscribe(replay, after);
      if (r == stream::subscribe_result::not_retained) {
        EXPECT_LT(log_max, std::size_t{1} << 20) << "only the trimmed log refuses";
        continue;
      }
      ASSERT_EQ(r, stream::subscribe_result::ended);
      ASSERT_EQ(replay->got.size(), last - after) << "after " << after;
      for (std::size_t i = 0; i < replay->got.size(); ++i) {
        auto& want = *live->got[after + i];
        auto& got = *replay->got[i];
        ASSERT_EQ(got.seq, want.seq);
        ASSERT_EQ(got.json(), want.json()) << "seq " << got.seq;
        ASSERT_EQ(got.sse(), want.sse());
        ASSERT_EQ(got.content, want.content);
      }
      auto between = s.events_between(after, after + 10);
      ASSERT_TRUE(between);
      for (auto& e : *between) EXPECT_EQ(e->json(), live->got[e->seq - 1]->json());
    }
    if (log_max == (std::size_t{1} << 20)) {
      // Each live chunk costs ~500 bytes; kept compactly, the stream is its text once (stream_complete
      // is rebuilt from it), the few other events and 2-17 bytes a chunk.
      std::cout << "[ measured ] retained bytes, 200 chunks, text " << full.size() << " B: " << before_end
                << " running, " << s.retained_bytes() << " finished\n";
      EXPECT_LT(s.retained_bytes(), full.size() + 3 * 1024);
      EXPECT_LT(s.retained_bytes() * 8, before_end);
    }
  }
}

// Progress events made by publish_progress are kept as rows of the shared table of stages without
// their frames being parsed back at the end; each replays byte for byte, interleaved with chunks,
// beside progress published as frames and a percent the table does not take.
TEST(Stream, PublishedProgressReplaysByteIdenticalFromItsRow) {
  stream s("st_prog", "proj", "o", "demo", std::size_t{1} << 20);
  auto live = std::make_shared<recorder>();
  s.publish(proto::make_stream_start("st_prog", "proj", "req"));
  s.subscribe(live, 0);
  s.publish_progress("initializing", "Initializing stream...", 5);
  s.publish_progress("analyzing", "Reading \"cards\" é\n", 20);
  s.publish(proto::make_progress("st_prog", s.next_seq(), "custom", "From a frame", 30));
  s.publish_progress("odd", "Past a hundred", 150);
  std::string full;
  for (int i = 0; i < 20; ++i) {
    std::string t = " w" + std::to_string(i);
    s.append_text(t);
    full += t;
    s.publish(proto::make_chunk("st_prog", s.next_seq(), t, "proj", 1'700'000'000'000'000 + i * 25'000));
    if (i == 10) s.publish_progress("generating", "Halfway there", 60);
  }
  s.publish_progress("finalizing", "Saving the answer...", 90);
  s.publish(proto::make_complete("st_prog", s.next_seq(), full, {1, 20}, {5, 20, 100}));
  ASSERT_TRUE(s.ended());
  ASSERT_EQ(live->got.size(), 28u);
  for (std::uint64_t after : {std::uint64_t{0}, std::uint64_t{3}, std::uint64_t{15}}) {
    auto replay = std::make_shared<recorder>();
    ASSERT_EQ(s.subscribe(replay, after), stream::subscribe_result::ended);
    ASSERT_EQ(replay->got.size(), live->got.size() - after);
    for (std::size_t i = 0; i < replay->got.size(); ++i) {
      auto& want = *live->got[after + i];
      auto& got = *replay->got[i];
      ASSERT_EQ(got.seq, want.seq);
      ASSERT_EQ(got.type, want.type);
      ASSERT_EQ(got.json(), want.json()) << "seq " << got.seq;
    }
  }
  EXPECT_LT(s.retained_bytes(), full.size() + 2 * 1024);
}

// The runner hands the stream_complete's numbers over with it, so compacting does not parse them back
// out of its JSON; numbers that do not rebuild the frame exactly leave the frame kept as it was.
TEST(Stream, CompleteWithItsNumbersReplaysByteIdentical) {
  for (bool matching : {true, false}) {
    stream s("st_nums", "proj", "o", "demo", std::size_t{1} << 20);
    auto live = std::make_shared<recorder>();
    s.publish(proto::make_stream_start("st_nums", "proj", "req"));
    s.subscribe(live, 0);
    std::string full;
    for (int i = 0; i < 50; ++i) {
      std::string t = i % 9 == 0 ? " \"é\"\n" : " w" + std::to_string(i);
      s.append_text(t);
      full += t;
      s.publish(proto::make_chunk("st_nums", s.next_seq(), t, "proj", 1'700'000'000'000'000 + i * 25'000));
    }
    proto::usage u{7, 50};
    proto::stream_metrics m{12, 50, 1234};
    auto ev = proto::make_complete("st_nums", s.next_seq(), full, u, m);
    // Numbers other than the frame's: the rebuilt frame would differ, so the frame itself is kept.
    if (!matching) u.output_tokens = 51;
    auto before_end = s.retained_bytes();
    s.publish_complete(ev, u, m);
    ASSERT_TRUE(s.ended());
    ASSERT_EQ(live->got.size(), 52u);
    for (std::uint64_t after : {std::uint64_t{0}, std::uint64_t{30}, std::uint64_t{51}}) {
      auto replay = std::make_shared<recorder>();
      ASSERT_EQ(s.subscribe(replay, after), stream::subscribe_result::ended);
      ASSERT_EQ(replay->got.size(), 52 - after);
      for (std::size_t i = 0; i < replay->got.size(); ++i) {
        ASSERT_EQ(replay->got[i]->json(), live->got[after + i]->json()) << matching << " seq " << replay->got[i]->seq;
        ASSERT_EQ(replay->got[i]->sse(), live->got[after + i]->sse());
      }
    }
    // Rebuilt, the stream_complete costs nothing beyond the text; kept, it holds the text a second time.
    if (matching) EXPECT_LT(s.retained_bytes(), full.size() + 1024) << before_end;
    else EXPECT_GT(s.retained_bytes(), 2 * full.size()) << before_end;
  }
}

// Bytes of heap in use, allocator overhead included (this thread's arena: the test is single-threaded).
std::size_t heap_in_use() {
#if defined(__SANITIZE_ADDRESS__)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

// A stream like the demo's (start, four stages, ~100 chunks, complete), left as it is kept for resume.
std::shared_ptr<stream> finished_demo_stream(int n, std::string& text, bool fail) {
  auto id = "st_" + std::to_string(1'000'000'000'000'000'000ull + static_cast<unsigned>(n));
  auto project = "pr_0123456789abcdefghij";
  auto s = std::make_shared<stream>(id, project, "anon_0123456789abcdefghijkl", "demo", 1 << 20);
  s->publish(proto::make_stream_start(id, project, "req-" + std::to_string(n)));
  s->publish(proto::make_progress(id, s->next_seq(), "initializing", "Initializing stream...", 5));
  s->publish(proto::make_progress(id, s->next_seq(), "analyzing", "Analyzing prompt cards...", 20));
  s->publish(proto::make_progress(id, s->next_seq(), "generating", "Generating with demo...", 40));
  text.clear();
  const proto::chunk_maker chunks(id, project);
  std::int64_t due = 1'700'000'000'000'000;
  for (int i = 0; i < 100; ++i) {
    auto t = (i % 9 == 0 ? std::string(" Real-time") : " word") + std::to_string(i % 10);
    text += t;
    due += 50'000 + (i % 3) * 7;
    s->publish_chunk(chunks.make(s->next_seq(), t, due));
  }
  if (fail) {
    s->publish(proto::make_error({proto::error_code::upstream_error, "the upstream failed", true, {}, {}}, id,
                                 s->next_seq()));
    return s;
  }
  s->publish(proto::make_progress(id, s->next_seq(), "finalizing", "Saving the answer...", 90));
  s->publish(proto::make_complete(id, s->next_seq(), text, {12, 100}, {200, 100, 5012}));
  return s;
}

// A finished stream kept for resume costs at most 2 KiB beside its text, allocator overhead included:
// the heap is measured around a thousand of them. The few events that are not chunks are replayed
// from their kept frames byte for byte, an error that ended the stream included.
TEST(Stream, AFinishedStreamHoldsAtMostTwoKibibytesBesideItsText) {
  constexpr int n = 1000;
  std::vector<std::shared_ptr<stream>> kept;
  kept.reserve(n);
  std::string text;
  auto before = heap_in_use();
  for (int i = 0; i < n; ++i) kept.push_back(finished_demo_stream(i, text, false));
  auto per_stream = static_cast<double>(heap_in_use() - before) / n;
  std::cout << "[ measured ] heap per finished stream: " << per_stream << " B, its text " << text.size() << " B\n";
  EXPECT_LE(per_stream, 2048.0 + static_cast<double>(text.size()));

  for (bool fail : {false, true}) {
    auto s = finished_demo_stream(7, text, fail);
    auto replay = std::make_shared<recorder>();
    ASSERT_EQ(s->subscribe(replay, 0), stream::subscribe_result::ended);
    ASSERT_EQ(replay->got.size(), fail ? 105u : 106u);
    EXPECT_EQ(replay->got[0]->type, proto::event_type::stream_start);
    EXPECT_EQ(replay->got[3]->json(), proto::make_progress(s->id(), 4, "generating", "Generating with demo...", 40)->json());
    auto& end = *replay->got.back();
    EXPECT_EQ(end.type, fail ? proto::event_type::error : proto::event_type::stream_complete);
    EXPECT_EQ(end.json(), s->last_event()->json());
    EXPECT_EQ(end.sse(), s->last_event()->sse());
    EXPECT_TRUE(end.terminal());
    if (fail) {
      EXPECT_NE(end.json().find("\"code\":\"upstream_error\""), std::string::npos) << end.json();
    }
  }
}

// The stages a finished stream keeps by reference are in a process-wide table of 4,096 rows; streams
// with more distinct stages than that (a backend may name its own) keep their frames whole, and every
// replay is still the frame that was sent.
TEST(Stream, ProgressFramesPastTheSharedTableAreKeptWhole) {
  for (int i = 0; i < 5000; ++i) {
    auto id = "st_table_" + std::to_string(i);
    stream s(id, "p", "o", "demo", 1 << 20);
    s.publish(proto::make_stream_start(id, "p", ""));
    auto sent = proto::make_progress(id, 2, "retrieving", "Reading source " + std::to_string(i) + "...", i % 101);
    s.publish(sent);
    s.publish(proto::make_cancelled(id, 3));
    auto r = std::make_shared<recorder>();
    ASSERT_EQ(s.subscribe(r, 1), stream::subscribe_result::ended);
    ASSERT_EQ(r->got.size(), 2u);
    ASSERT_EQ(r->got[0]->json(), sent->json()) << i;
    ASSERT_EQ(r->got[0]->type, proto::event_type::progress);
    ASSERT_EQ(r->got[1]->type, proto::event_type::stream_cancelled);
  }
}

TEST(Stream, BoundedLogTrimsOldestAndRefusesResumeBeforeIt) {
  stream s("st", "p", "o", "demo", 400);
  s.publish(proto::make_stream_start("st", "p", ""));
  for (int i = 0; i < 50; ++i) publish_chunk(s, "token");
  auto r = std::make_shared<recorder>();
  EXPECT_EQ(s.subscribe(r, 0), stream::subscribe_result::not_retained);
  EXPECT_FALSE(s.events_between(0, 100));
  auto last = s.info().last_seq;
  EXPECT_EQ(s.subscribe(r, last - 1), stream::subscribe_result::ok);
  ASSERT_EQ(r->got.size(), 1u);
  EXPECT_EQ(r->got[0]->seq, last);
}

// A stream no reader can join (a completion without a requestId) holds, once its reader has
// subscribed, only its newest event: the reader still gets every event exactly once, in order,
// those published before it subscribed included; 100,000 chunks later the log holds one event, and
// the heap holds no more than it did after the first thousand; a later reader from before that
// event is refused as not retained.
TEST(Stream, AStreamNoOneCanJoinKeepsOnlyItsNewestEventOnceRead) {
  stream s("st_once", "p", "o", "demo", 1 << 20);
  s.set_resumable(false);
  s.set_joinable(false);
  proto::chunk_maker maker("st_once", "p");
  s.publish(proto::make_stream_start("st_once", "p", ""));
  s.publish_progress("initializing", "Starting...", 5);
  struct counter : subscriber {
    std::uint64_t next = 1, wrong = 0, count = 0;
    void deliver(proto::event_ptr ev) override {
      if (ev->seq != next) ++wrong;
      next = ev->seq + 1;
      ++count;
    }
  };
  auto r = std::make_shared<counter>();
  ASSERT_EQ(s.subscribe(r, 0), stream::subscribe_result::ok);
  EXPECT_EQ(r->count, 2u) << "the events before the subscription are replayed";
  const std::size_t one_event = s.retained_bytes();
  std::size_t heap_after_1000 = 0;
  for (int i = 0; i < 100000; ++i) {
    s.publish_chunk(maker.make(s.next_seq(), "token ", 0));
    if (i == 999) heap_after_1000 = heap_in_use();
  }
  EXPECT_EQ(r->wrong, 0u);
  EXPECT_EQ(r->count, 100002u);
  // The text (600 kB, in a string that doubles as it grows) is the stream's answer; nothing else may grow.
  const std::size_t text_room = 2 * s.info().text.size();
  EXPECT_LE(s.retained_bytes(), one_event + text_room + 1024) << "one event beside the text";
  EXPECT_LE(heap_in_use(), heap_after_1000 + text_room + 64 * 1024);
  auto late = std::make_shared<recorder>();
  EXPECT_EQ(s.subscribe(late, 0), stream::subscribe_result::not_retained);
  auto last = s.info().last_seq;
  EXPECT_EQ(s.subscribe(late, last - 1), stream::subscribe_result::ok);
  ASSERT_EQ(late->got.size(), 1u);
  EXPECT_EQ(late->got[0]->seq, last);
  s.publish_complete(proto::make_complete("st_once", s.next_seq(), "", {}, {}), {}, {});
  EXPECT_EQ(r->count, 100003u);
  EXPECT_TRUE(s.ended());
}

// A joinable stream (the default) keeps its whole log while it runs, reader or not.
TEST(Stream, AJoinableStreamKeepsItsLogForLaterReaders) {
  stream s("st_join", "p", "o", "demo", 1 << 20);
  s.set_resumable(false);
  s.publish(proto::make_stream_start("st_join", "p", ""));
  auto first = std::make_shared<recorder>();
  ASSERT_EQ(s.subscribe(first, 0), stream::subscribe_result::ok);
  for (int i = 0; i < 100; ++i) publish_chunk(s, "t");
  auto second = std::make_shared<recorder>();
  ASSERT_EQ(s.subscribe(second, 0), stream::subscribe_result::ok);
  EXPECT_EQ(second->got.size(), 101u);
}

// A /v1/chat/completions response reads a chunk's text, never its frame: chunks a stream makes are
// not written as frames until something reads them so, and then they are make_chunk's, and the log
// counts them the same either way.
TEST(Stream, ChunksNoOneReadsAsFramesAreNeverWrittenAndLaterReadersGetThemWhole) {
  stream s("st_lazy", "p", "o", "demo", 1 << 20);
  proto::chunk_maker maker("st_lazy", "sess");
  auto text_reader = std::make_shared<recorder>();
  ASSERT_EQ(s.subscribe(text_reader, 0), stream::subscribe_result::ok);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back("tok" + std::to_string(i) + (i % 7 == 0 ? "\n" : ""));
    s.append_text(texts.back());
    s.publish(maker.make(s.next_seq(), texts.back(), 1000 + i));
  }
  ASSERT_EQ(text_reader->got.size(), 200u);
  int written = 0;
  for (auto& e : text_reader->got) written += e->has_frame() ? 1 : 0;
  EXPECT_EQ(written, 0);
  // A reader of frames that joins now replays the same events, and each is written as make_chunk writes it.
  auto frame_reader = std::make_shared<recorder>();
  ASSERT_EQ(s.subscribe(frame_reader, 0), stream::subscribe_result::ok);
  ASSERT_EQ(frame_reader->got.size(), 200u);
  int differ = 0;
  for (std::size_t i = 0; i < 200; ++i) {
    auto& e = frame_reader->got[i];
    if (e->json() != proto::make_chunk("st_lazy", i + 1, texts[i], "sess", 1000 + static_cast<std::int64_t>(i))->json()) ++differ;
  }
  EXPECT_EQ(differ, 0);
  EXPECT_EQ(s.info().text.size(), [&] {
    std::size_t n = 0;
    for (auto& t : texts) n += t.size();
    return n;
  }());
}

TEST(Stream, EventsBetweenIsInclusiveOfUpper) {
  stream s("st", "p", "o", "demo", 1 << 20);
  s.publish(proto::make_stream_start("st", "p", ""));
  for (int i = 0; i < 5; ++i) publish_chunk(s, "x");
  auto ev = s.events_between(2, 4);
  ASSERT_TRUE(ev);
  ASSERT_EQ(ev->size(), 2u);
  EXPECT_EQ((*ev)[0]->seq, 3u);
  EXPECT_EQ((*ev)[1]->seq, 4u);
}

TEST(Stream, ExpiredSubscribersArePruned) {
  stream s("st", "p", "o", "demo", 1 << 20);
  s.publish(proto::make_stream_start("st", "p", ""));
  {
    auto r = std::make_shared<recorder>();
    s.subscribe(r, 0);
    EXPECT_EQ(s.subscriber_count(), 1u);
  }
  publish_chunk(s, "x");
  EXPECT_EQ(s.subscriber_count(), 0u);
}

}  // namespace
}  // namespace sg::stream
