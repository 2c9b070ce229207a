// Frames parsed back into events: what a node replaying another node's stream relies on.
#include "proto/event_frame.hpp"

#include <gtest/gtest.h>

namespace sg::proto {
namespace {

void expect_same(const event_ptr& made) {
  auto back = parse_event_frame(made->json());
  ASSERT_TRUE(back) << made->json();
  EXPECT_EQ(back->json(), made->json());
  EXPECT_EQ(back->type, made->type);
  EXPECT_EQ(back->stream_id, made->stream_id);
  EXPECT_EQ(back->seq, made->seq);
  EXPECT_EQ(back->terminal(), made->terminal());
  EXPECT_EQ(back->sse(), made->sse());
  if (made->type == event_type::stream_chunk) {
    EXPECT_EQ(back->content, made->content);
    EXPECT_EQ(back->session_id, made->session_id);
    EXPECT_EQ(back->due_us, made->due_us);
    EXPECT_EQ(back->first_seq, made->first_seq);
  }
}

TEST(EventFrame, EveryStreamEventParsesBackByteForByte) {
  expect_same(make_stream_start("st_1", "proj \"q\"", "r1"));
  expect_same(make_progress("st_1", 2, "analyzing", "Analyzing prompt cards...", 20));
  expect_same(make_chunk("st_1", 3, "caf\xc3\xa9 \"line\"\n\ttab \xf0\x9f\x98\x80", "proj", 123456789));
  expect_same(make_chunk("st_1", 4, "", "proj"));
  chunk_maker maker("st_1", "proj");
  expect_same(maker.make(5, "made \\ by maker", 987));
  auto a = make_chunk("st_1", 6, "one ", "proj", 10);
  auto b = make_chunk("st_1", 7, "two", "proj", 20);
  expect_same(merge_chunks(*a, *b));
  EXPECT_EQ(parse_event_frame(merge_chunks(*a, *b)->json())->first_seq, 6u);
  expect_same(make_complete("st_1", 8, "one two", usage{12, 34}, stream_metrics{50, 2, 900}));
  expect_same(make_cancelled("st_1", 9));
  expect_same(make_error({error_code::interrupted, "the node stopped", true, {}, {}}, "st_1", 10));
  // A merged chunk is not terminal; an error with a seq ends the stream.
  EXPECT_FALSE(parse_event_frame(make_chunk("s", 1, "x", "p")->json())->terminal());
  EXPECT_TRUE(parse_event_frame(make_error({error_code::internal, "x", false, {}, {}}, "s", 3)->json())->terminal());
}

TEST(EventFrame, NonStreamFramesAndGarbageAreRefused) {
  EXPECT_FALSE(parse_event_frame(make_pong("r")->json()));
  EXPECT_FALSE(parse_event_frame(make_connected("c", 1)->json()));
  EXPECT_FALSE(parse_event_frame(make_error({error_code::bad_request, "x", false, {}, {}}, {}, 0, "r")->json()));
  for (std::string bad : {"", "{", "[]", "null", R"({"type":"stream_chunk"})",
                          R"({"type":"stream_chunk","streamId":"s","seq":1})",  // no content
                          R"({"type":"progress","streamId":"s","seq":0})", R"({"type":"progress","streamId":"s","seq":-1})",
                          R"({"type":"progress","streamId":7,"seq":1})", R"({"type":"nope","streamId":"s","seq":1})"})
    EXPECT_FALSE(parse_event_frame(bad)) << bad;
}

}  // namespace
}  // namespace sg::proto
