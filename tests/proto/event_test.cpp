// Event serialization: the JSON each event carries, its SSE form, escaping and merging.
#include "proto/event.hpp"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <latch>
#include <thread>
#include <vector>

namespace sg::proto {
namespace {

namespace json = boost::json;

json::object parse(const event_ptr& e) { return json::parse(e->json()).as_object(); }

TEST(Event, StreamEventsCarryStreamIdAndSeq) {
  auto start = parse(make_stream_start("st_1", "proj", "req"));
  EXPECT_EQ(start.at("type"), "stream_start");
  EXPECT_EQ(start.at("seq"), 1);
  EXPECT_EQ(start.at("sessionId"), "proj");
  EXPECT_EQ(start.at("requestId"), "req");
  auto p = parse(make_progress("st_1", 2, "analyzing", "Analyzing prompt cards...", 20));
  EXPECT_EQ(p.at("stage"), "analyzing");
  EXPECT_EQ(p.at("progress"), 20);
  auto c = parse(make_chunk("st_1", 3, "Hel", "proj"));
  EXPECT_EQ(c.at("content"), "Hel");
  EXPECT_FALSE(c.contains("firstSeq"));
  EXPECT_FALSE(c.contains("dueUs"));
  usage u{10, 20};
  stream_metrics m{120, 20, 900};
  auto done = parse(make_complete("st_1", 24, "Hello", u, m));
  EXPECT_EQ(done.at("fullContent"), "Hello");
  EXPECT_EQ(done.at("usage").at("inputTokens"), 10);
  EXPECT_EQ(done.at("metrics").at("firstChunkMs"), 120);
  EXPECT_EQ(parse(make_cancelled("st_1", 5)).at("type"), "stream_cancelled");
}

TEST(Event, TerminalEvents) {
  EXPECT_TRUE(make_complete("s", 3, "", {}, {})->terminal());
  EXPECT_TRUE(make_cancelled("s", 3)->terminal());
  error_info e{error_code::upstream_timeout, "slow", true, {}, {}};
  EXPECT_TRUE(make_error(e, "s", 4)->terminal());
  EXPECT_FALSE(make_error(e, "s", 0, "r")->terminal());  // answers a request, ends nothing
  EXPECT_FALSE(make_chunk("s", 2, "x", "p")->terminal());
}

TEST(Event, ErrorFields) {
  error_info e{error_code::rate_limited, "slow down", true, 1500, {}};
  auto o = parse(make_error(e, {}, 0, "req-7"));
  EXPECT_EQ(o.at("code"), "rate_limited");
  EXPECT_EQ(o.at("retryable"), true);
  EXPECT_EQ(o.at("retryAfterMs"), 1500);
  EXPECT_EQ(o.at("requestId"), "req-7");
  EXPECT_FALSE(o.contains("streamId"));
  auto body = json::parse(error_body({error_code::bad_request, "no", false, {}, "name"})).as_object();
  EXPECT_EQ(body.at("field"), "name");
  EXPECT_EQ(http_status(error_code::not_found), 404u);
  EXPECT_EQ(http_status(error_code::payload_too_large), 413u);
}

TEST(Event, SseFormIsBuiltOnceAndMatchesTheJson) {
  auto c = make_chunk("st_1", 9, "a\nb", "p");
  const std::string& s1 = c->sse();
  const std::string& s2 = c->sse();
  EXPECT_EQ(&s1, &s2);
  EXPECT_EQ(s1, "id: 9\nevent: stream_chunk\ndata: " + c->json() + "\n\n");
  EXPECT_EQ(heartbeat_event()->sse(), ": ping\n\n");
  EXPECT_EQ(make_raw("x\ny")->sse(), "event: message\ndata: x\ndata: y\n\n");
}

TEST(Event, MergedChunkCoversBothSeqsAndConcatenates) {
  auto a = make_chunk("st", 4, "Hel", "p", 100);
  auto b = make_chunk("st", 5, "lo", "p", 200);
  auto m = merge_chunks(*a, *b);
  auto o = parse(m);
  EXPECT_EQ(o.at("seq"), 5);
  EXPECT_EQ(o.at("firstSeq"), 4);
  EXPECT_EQ(o.at("content"), "Hello");
  EXPECT_EQ(o.at("dueUs"), 200);
  auto c = make_chunk("st", 6, "!", "p", 300);
  auto m2 = merge_chunks(*m, *c);
  EXPECT_EQ(m2->first_seq, 4u);
  EXPECT_EQ(m2->seq, 6u);
  EXPECT_EQ(m2->content, "Hello!");
}

// The per-stream maker writes exactly the bytes make_chunk writes, for every kind of content.
// The chunks of one stream share its ids: a chunk event copies no id (a stream id is too long to
// be kept in place by a std::string, so each copy was an allocation).
TEST(Event, ChunksOfAStreamShareItsIds) {
  chunk_maker maker("st_0123456789abcdefghij", "a-session-id-longer-than-fifteen");
  auto a = maker.make(1, "x", 0);
  auto b = maker.make(2, "y", 0);
  EXPECT_EQ(&a->stream_id.str(), &b->stream_id.str());
  EXPECT_EQ(&a->session_id.str(), &b->session_id.str());
  EXPECT_EQ(a->stream_id, "st_0123456789abcdefghij");
  auto merged = merge_chunks(*a, *b);
  EXPECT_EQ(merged->stream_id, a->stream_id);
  EXPECT_EQ(merged->content, "xy");
  shared_id none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.str(), "");
  EXPECT_FALSE(none == a->stream_id);
}

TEST(Event, ChunkMakerFramesAreByteIdenticalToMakeChunk) {
  const std::vector<std::string> contents{"hello", "", " \"quoted\" and \\ back", "line\nbreak\ttab\r",
                                          std::string("nul\0byte", 8), "\x01\x1f control", "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80",
                                          "bad \xff\xfe utf8 \xc3", std::string(5000, 'x')};
  const std::vector<std::pair<std::string, std::string>> ids{{"st_abc", "bench"}, {"st_\"odd\"", "proj\\x"}, {"s", ""}};
  const std::vector<std::int64_t> dues{0, 1, 1764688000123456, -5};
  int compared = 0;
  for (auto& [sid, session] : ids) {
    chunk_maker maker(sid, session);
    std::uint64_t seq = 1;
    for (auto& c : contents)
      for (auto due : dues) {
        auto a = make_chunk(sid, seq, c, session, due);
        auto b = maker.make(seq, c, due);
        EXPECT_EQ(a->json(), b->json()) << "content " << c.substr(0, 20) << " due " << due;
        EXPECT_EQ(a->sse(), b->sse());
        EXPECT_EQ(b->stream_id, sid);
        EXPECT_EQ(b->session_id, session);
        EXPECT_EQ(b->content, c);
        EXPECT_EQ(b->first_seq, seq);
        EXPECT_EQ(b->due_us, due);
        seq = seq * 7 + 1;  // up to large seqs
        ++compared;
      }
  }
  EXPECT_EQ(compared, 3 * 9 * 4);
}

TEST(Event, ChunkFramesSpellTheProtocolsFieldsInOrder) {
  // Short plain text (written on the stack), text that needs escapes, ids that need escapes, and a
  // text past the stack buffer: every path spells the same fields.
  EXPECT_EQ(make_chunk("st_1", 3, "hi", "p", 5)->json(),
            R"({"type":"stream_chunk","streamId":"st_1","seq":3,"content":"hi","sessionId":"p","dueUs":5})");
  EXPECT_EQ(make_chunk("st_1", 9, "hi", "p", -7, 4)->json(),
            R"({"type":"stream_chunk","streamId":"st_1","seq":9,"firstSeq":4,"content":"hi","sessionId":"p","dueUs":-7})");
  EXPECT_EQ(make_chunk("st_1", 3, "a\"b\n", "p")->json(),
            R"({"type":"stream_chunk","streamId":"st_1","seq":3,"content":"a\"b\n","sessionId":"p"})");
  EXPECT_EQ(make_chunk("st_\"q", 3, "x", "p\\")->json(),
            R"({"type":"stream_chunk","streamId":"st_\"q","seq":3,"content":"x","sessionId":"p\\"})");
  std::string long_text(300, 'z');
  EXPECT_EQ(make_chunk("st_1", 1, long_text, "p")->json(),
            R"({"type":"stream_chunk","streamId":"st_1","seq":1,"content":")" + long_text + R"(","sessionId":"p"})");
  chunk_maker maker("st_1", "p");
  EXPECT_EQ(maker.make(3, "hi", 5)->json(), make_chunk("st_1", 3, "hi", "p", 5)->json());
}

TEST(Event, AChunkMakersFrameIsWrittenOnFirstReadAndCountedAlikeBeforeAndAfter) {
  chunk_maker maker("st_abc", "bench");
  int checked = 0;
  for (std::int64_t due : {std::int64_t{0}, std::int64_t{1764688000123456}, std::int64_t{-5}})
    for (std::uint64_t seq : {1ull, 99ull, 123456789012ull}) {
      auto e = maker.make(seq, "hello world", due);
      EXPECT_FALSE(e->has_frame());
      auto counted = e->frame_bytes();
      const std::string& frame = e->json();
      EXPECT_TRUE(e->has_frame());
      EXPECT_EQ(frame, make_chunk("st_abc", seq, "hello world", "bench", due)->json());
      // Text without escapes: the count is the frame's size, before it was written and after.
      EXPECT_EQ(counted, frame.size()) << "seq " << seq << " due " << due;
      EXPECT_EQ(e->frame_bytes(), counted);
      EXPECT_EQ(&e->json(), &frame);  // written once
      ++checked;
    }
  EXPECT_EQ(checked, 9);
  // Escapes are not counted: a quote and a newline take two bytes each in the frame.
  auto escaped = maker.make(7, "a\"b\n", 0);
  auto counted = escaped->frame_bytes();
  EXPECT_EQ(escaped->json().size(), counted + 2);
  EXPECT_EQ(escaped->frame_bytes(), counted);
  // Every other event has its frame from the start and counts its size.
  auto whole = make_chunk("st_abc", 7, "a\"b\n", "bench");
  EXPECT_TRUE(whole->has_frame());
  EXPECT_EQ(whole->frame_bytes(), whole->json().size());
  EXPECT_EQ(whole->json(), escaped->json());
}

TEST(Event, ThreadsReadingAFreshChunkTogetherAllGetItsOneFrame) {
  chunk_maker maker("st_shared", "sess");
  constexpr int events = 300, readers = 4;
  int mismatches = 0;
  for (int i = 0; i < events; ++i) {
    std::string text = "token " + std::to_string(i) + " \"quoted\"";
    auto e = maker.make(static_cast<std::uint64_t>(i + 1), text, 1000 + i);
    auto want = make_chunk("st_shared", static_cast<std::uint64_t>(i + 1), text, "sess", 1000 + i)->json();
    std::latch go(readers);
    std::vector<const std::string*> seen(readers);
    std::vector<std::string> copies(readers);
    std::vector<std::thread> ts;
    for (int t = 0; t < readers; ++t)
      ts.emplace_back([&, t] {
        go.arrive_and_wait();
        seen[t] = &e->json();
        copies[t] = *seen[t];
      });
    for (auto& t : ts) t.join();
    for (int t = 0; t < readers; ++t)
      if (seen[t] != seen[0] || copies[t] != want) ++mismatches;
  }
  EXPECT_EQ(mismatches, 0);
}

}  // namespace
}  // namespace sg::proto
