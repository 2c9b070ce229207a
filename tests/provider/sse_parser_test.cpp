// sse_parser against the web-platform-tests eventsource/format-* cases, fed in every chunking.
#include "provider/parse/sse_parser.hpp"

#include "provider/parse/parse_error.hpp"
#include "chunking.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

namespace sg::provider {
namespace {

using namespace std::string_literals;

struct ev {
  std::string type;
  std::string data;
  std::string id;
  friend bool operator==(const ev&, const ev&) = default;
  friend std::ostream& operator<<(std::ostream& os, const ev& e) {
    return os << "{type=" << testing::PrintToString(e.type) << " data=" << testing::PrintToString(e.data)
              << " id=" << testing::PrintToString(e.id) << "}";
  }
};

ev msg(std::string data, std::string id = {}) { return {"message", std::move(data), std::move(id)}; }

struct run_result {
  std::vector<ev> events;
  std::error_code error;
};

run_result run(sse_parser& parser, std::vector<ev>& sink, const std::vector<std::string_view>& chunks) {
  run_result r;
  sink.clear();
  for (auto c : chunks) {
    r.error = parser.feed(c);
    if (r.error) break;
  }
  r.events = sink;
  return r;
}

// One WPT case: the bytes the test server sends and what EventSource must dispatch.
struct wpt_case {
  const char* name;
  std::string body;
  std::vector<ev> expected;
  std::optional<std::uint64_t> retry;
  std::string last_event_id;
};

// resources/message.py appends "\n\n" (unless newline=none) and then "\n".
std::string message_py(std::string message, bool newline_none = false) {
  return message + (newline_none ? "" : "\n\n") + "\n";
}

// resources/last-event-id.py, first connection: no Last-Event-ID header yet.
std::string last_event_id_py(const std::string& idvalue) {
  return "id: " + idvalue + "\nretry: 200\ndata: hello\n\n";
}

std::vector<wpt_case> wpt_cases() {
  const std::string longstring(2 * 1024, 'x');
  std::vector<wpt_case> cases = {
      {"format-bom", message_py("\xEF\xBB\xBF" "data:1\n\n\xEF\xBB\xBF" "data:2\n\ndata:3"),
       {msg("1"), msg("3")}, std::nullopt, ""},
      {"format-bom-2", message_py("\xEF\xBB\xBF\xEF\xBB\xBF" "data:1\n\ndata:2\n\ndata:3"),
       {msg("2"), msg("3")}, std::nullopt, ""},
      {"format-comments",
       message_py("data:1\r:\0\n:\r\ndata:2\n:"s + longstring + "\rdata:3\n:data:fail\r:" + longstring +
                      "\ndata:4\n",
                  true),
       {msg("1\n2\n3\n4")}, std::nullopt, ""},
      {"format-data-before-final-empty-line",
       message_py("retry:1000\ndata:test1\n\nid:test\ndata:test2", true), {msg("test1")}, 1000, ""},
      {"format-field-data", message_py("data:\n\ndata\ndata\n\ndata:test"),
       {msg(""), msg("\n"), msg("test")}, std::nullopt, ""},
      {"format-field-event-empty", message_py("event: \ndata:data"), {msg("data")}, std::nullopt, ""},
      {"format-field-event", message_py("event:test\ndata:x\n\ndata:x"),
       {{"test", "x", ""}, msg("x")}, std::nullopt, ""},
      {"format-field-id", last_event_id_py("\xE2\x80\xA6"), {msg("hello", "\xE2\x80\xA6")}, 200,
       "\xE2\x80\xA6"},
      {"format-field-id-3 persists", "id: 1\ndata: 1\n\ndata:2\n\n", {msg("1", "1"), msg("2", "1")},
       std::nullopt, "1"},
      {"format-field-id-3 changes and persists", "id: 1\ndata: 1\n\nid: 2\ndata:2\n\ndata:3\n\n",
       {msg("1", "1"), msg("2", "2"), msg("3", "2")}, std::nullopt, "2"},
      {"format-field-id-3 resets", "id: 1\ndata: 1\n\nid:\ndata:2\n\ndata:3\n\n",
       {msg("1", "1"), msg("2"), msg("3")}, std::nullopt, ""},
      {"format-field-id-3 resets (id without colon)", "id: 1\ndata: 1\n\nid\ndata:2\n\ndata:3\n\n",
       {msg("1", "1"), msg("2"), msg("3")}, std::nullopt, ""},
      {"format-field-parsing",
       message_py("data:\0\ndata:  2\rData:1\ndata\0:2\ndata:1\r\0data:4\nda-ta:3\rdata_5\ndata:3\rdata:\r\n data:32\ndata:4\n"s,
                  true),
       {msg("\0\n 2\n1\n3\n\n4"s)}, std::nullopt, ""},
      {"format-field-retry-bogus", message_py("retry:3000\nretry:1000x\ndata:x"), {msg("x")}, 3000, ""},
      {"format-field-retry-empty", message_py("retry\ndata:test"), {msg("test")}, std::nullopt, ""},
      {"format-field-retry", message_py("retry:03000\ndata:x"), {msg("x")}, 3000, ""},
      {"format-field-unknown",
       message_py("data:test\n data\ndata\nfoobar:xxx\njustsometext\n:thisisacommentyay\ndata:test"),
       {msg("test\n\ntest")}, std::nullopt, ""},
      {"format-leading-space", message_py("data:\ttest\rdata: \ndata:test"), {msg("\ttest\n\ntest")},
       std::nullopt, ""},
      {"format-newlines", message_py("data:test\r\ndata\ndata:test\r\n\r", true), {msg("test\n\ntest")},
       std::nullopt, ""},
      {"format-null-character", message_py("data:\0\n\n"s), {msg("\0"s)}, std::nullopt, ""},
      {"format-utf-8", message_py("data:ok\xE2\x80\xA6"), {msg("ok\xE2\x80\xA6")}, std::nullopt, ""},
      {"format-field-id-null \\0\\0", last_event_id_py("\0\0"s), {msg("hello")}, 200, ""},
      {"format-field-id-null x\\0", last_event_id_py("x\0"s), {msg("hello")}, 200, ""},
      {"format-field-id-null \\0x", last_event_id_py("\0x"s), {msg("hello")}, 200, ""},
      {"format-field-id-null x\\0x", last_event_id_py("x\0x"s), {msg("hello")}, 200, ""},
      {"format-field-id-null space\\0", last_event_id_py(" \0"s), {msg("hello")}, 200, ""},
  };
  return cases;
}

TEST(SseParser, WptFormatCasesInEveryChunking) {
  for (const auto& c : wpt_cases()) {
    for (const auto& chunking : test::all_chunkings(c.body)) {
      SCOPED_TRACE(std::string{c.name} + " / " + chunking.name);
      std::vector<ev> sink;
      sse_parser parser([&](const sse_event& e) {
        sink.push_back({std::string{e.type}, std::string{e.data}, std::string{e.last_event_id}});
      });
      const auto r = run(parser, sink, chunking.chunks);
      ASSERT_FALSE(r.error) << r.error.message();
      parser.finish();
      EXPECT_EQ(r.events, c.expected);
      EXPECT_EQ(parser.retry_ms(), c.retry);
      EXPECT_EQ(parser.last_event_id(), c.last_event_id);
    }
  }
}

// format-field-id and format-field-id-2: the ID survives reconnection and comes back.
TEST(SseParser, LastEventIdPersistsAcrossReconnects) {
  std::vector<ev> sink;
  sse_parser parser([&](const sse_event& e) {
    sink.push_back({std::string{e.type}, std::string{e.data}, std::string{e.last_event_id}});
  });
  const std::string ellipsis = "\xE2\x80\xA6";
  ASSERT_FALSE(parser.feed(last_event_id_py(ellipsis)));
  EXPECT_FALSE(parser.finish());
  ASSERT_EQ(parser.last_event_id(), ellipsis);
  // The server echoes the Last-Event-ID it received; twice, as format-field-id-2 reconnects twice.
  for (int reconnect = 0; reconnect < 2; ++reconnect) {
    ASSERT_FALSE(parser.feed("data: " + parser.last_event_id() + "\n\n"));
    parser.finish();
  }
  ASSERT_EQ(sink.size(), 3u);
  EXPECT_EQ(sink[1], msg(ellipsis, ellipsis));
  EXPECT_EQ(sink[2], msg(ellipsis, ellipsis));
}

// format-data-before-final-empty-line: the unfinished event's id must not be committed.
TEST(SseParser, UnterminatedEventIsDroppedWithItsId) {
  std::vector<ev> sink;
  sse_parser parser([&](const sse_event& e) {
    sink.push_back({std::string{e.type}, std::string{e.data}, std::string{e.last_event_id}});
  });
  ASSERT_FALSE(parser.feed("retry:1000\ndata:test1\n\nid:test\ndata:test2\n"));
  EXPECT_TRUE(parser.finish());
  EXPECT_EQ(parser.last_event_id(), "");
  // Reconnected: the server replays, and the dropped id is not attached to it.
  ASSERT_FALSE(parser.feed("data:test1\n\n"));
  ASSERT_EQ(sink.size(), 2u);
  EXPECT_EQ(sink[1], msg("test1"));
}

TEST(SseParser, UnterminatedLineAtEofIsDropped) {
  int events = 0;
  sse_parser parser([&](const sse_event&) { ++events; });
  ASSERT_FALSE(parser.feed("data: complete\n\ndata: partial"));
  EXPECT_TRUE(parser.finish());
  EXPECT_EQ(events, 1);
  EXPECT_FALSE(parser.finish());  // nothing left to drop the second time
}

TEST(SseParser, CrLfSplitAcrossChunksIsOneLineEnd) {
  std::vector<std::string> data;
  sse_parser parser([&](const sse_event& e) { data.emplace_back(e.data); });
  ASSERT_FALSE(parser.feed("data:a\r"));
  ASSERT_FALSE(parser.feed(""));
  ASSERT_FALSE(parser.feed("\ndata:b\r"));
  ASSERT_FALSE(parser.feed("\n\r"));
  ASSERT_FALSE(parser.feed("\n"));
  EXPECT_EQ(data, std::vector<std::string>{"a\nb"});
}

TEST(SseParser, CrCrIsTwoLineEnds) {
  std::vector<std::string> data;
  sse_parser parser([&](const sse_event& e) { data.emplace_back(e.data); });
  ASSERT_FALSE(parser.feed("data:a\r\rdata:b\r\n\r\n"));
  EXPECT_EQ(data, (std::vector<std::string>{"a", "b"}));
}

TEST(SseParser, BomOnlyAtStreamStartAndAgainAfterReconnect) {
  std::vector<std::string> data;
  sse_parser parser([&](const sse_event& e) { data.emplace_back(e.data); });
  ASSERT_FALSE(parser.feed("\xEF\xBB"));
  ASSERT_FALSE(parser.feed("\xBF" "data:1\n\n"));
  parser.finish();
  ASSERT_FALSE(parser.feed("\xEF\xBB\xBF" "data:2\n\n"));
  EXPECT_EQ(data, (std::vector<std::string>{"1", "2"}));
}

TEST(SseParser, PartialBomIsContent) {
  std::vector<ev> sink;
  sse_parser parser([&](const sse_event& e) {
    sink.push_back({std::string{e.type}, std::string{e.data}, std::string{e.last_event_id}});
  });
  // "\xEF\xBB" then ':' is not a BOM: the bytes are the start of a field name.
  ASSERT_FALSE(parser.feed("\xEF\xBB"));
  ASSERT_FALSE(parser.feed(":x\ndata:y\n\n"));
  EXPECT_EQ(sink, std::vector<ev>{msg("y")});
}

TEST(SseParser, RetryIgnoresNonDigitsAndSaturates) {
  sse_parser parser([](const sse_event&) {});
  ASSERT_FALSE(parser.feed("retry: 1500\n"));
  EXPECT_EQ(parser.retry_ms(), 1500u);
  ASSERT_FALSE(parser.feed("retry:-1\nretry:1e3\nretry:  7\nretry:\n"));
  EXPECT_EQ(parser.retry_ms(), 1500u);
  ASSERT_FALSE(parser.feed("retry:99999999999999999999999999\n"));
  EXPECT_EQ(parser.retry_ms(), std::numeric_limits<std::uint64_t>::max());
}

TEST(SseParser, OpenAiStyleStream) {
  std::vector<std::string> data;
  sse_parser parser([&](const sse_event& e) { data.emplace_back(e.data); });
  const std::string body =
      ": keep-alive\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n"
      "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n"
      "data: [DONE]\n\n";
  for (const auto& chunking : test::all_chunkings(body)) {
    SCOPED_TRACE(chunking.name);
    data.clear();
    for (auto c : chunking.chunks) ASSERT_FALSE(parser.feed(c));
    ASSERT_EQ(data.size(), 3u);
    EXPECT_EQ(data[2], "[DONE]");
    parser.finish();
  }
}

TEST(SseParser, AnthropicStyleNamedEvents) {
  std::vector<std::pair<std::string, std::string>> got;
  sse_parser parser([&](const sse_event& e) { got.emplace_back(e.type, e.data); });
  ASSERT_FALSE(parser.feed(
      "event: message_start\r\ndata: {\"type\":\"message_start\"}\r\n\r\n"
      "event: ping\r\ndata: {\"type\": \"ping\"}\r\n\r\n"));
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].first, "message_start");
  EXPECT_EQ(got[1].first, "ping");
}

TEST(SseParser, LineLimitIsAStickyError) {
  int events = 0;
  sse_parser parser([&](const sse_event&) { ++events; }, sse_limits{16, 1024});
  EXPECT_FALSE(parser.feed("data: 0123456789\n"));  // exactly 16 bytes
  const auto ec = parser.feed("data: 0123456789A");
  EXPECT_EQ(ec, parse_errc::line_too_long);
  EXPECT_EQ(parser.feed("\n\n"), parse_errc::line_too_long);
  EXPECT_EQ(events, 0);
  parser.finish();  // a new connection starts clean
  EXPECT_FALSE(parser.feed("data: ok\n\n"));
  EXPECT_EQ(events, 1);
}

TEST(SseParser, LineLimitAppliesAcrossChunks) {
  sse_parser parser([](const sse_event&) {}, sse_limits{8, 1024});
  EXPECT_FALSE(parser.feed("data"));
  EXPECT_FALSE(parser.feed(":123"));
  EXPECT_EQ(parser.feed("4"), parse_errc::line_too_long);
}

TEST(SseParser, EventDataLimit) {
  sse_parser parser([](const sse_event&) {}, sse_limits{64, 10});
  EXPECT_FALSE(parser.feed("data:12345\n"));  // 6 bytes with its '\n'
  EXPECT_EQ(parser.feed("data:1234\n"), parse_errc::event_too_large);
  EXPECT_EQ(parser.error(), parse_errc::event_too_large);
}

TEST(SseParser, EventTypeResetsAfterEachDispatchAndEmptyData) {
  std::vector<std::string> types;
  sse_parser parser([&](const sse_event& e) { types.emplace_back(e.type); });
  // An event with a type but no data is not dispatched, and its type does not leak.
  ASSERT_FALSE(parser.feed("event:a\n\ndata:x\n\nevent:b\ndata:y\n\ndata:z\n\n"));
  EXPECT_EQ(types, (std::vector<std::string>{"message", "b", "message"}));
}

// format-mime-trailing-semicolon, format-mime-valid-bogus, format-mime-bogus, format-utf-8.
TEST(SseParser, ContentTypeCheck) {
  EXPECT_TRUE(is_event_stream_content_type("text/event-stream"));
  EXPECT_TRUE(is_event_stream_content_type("text/event-stream;"));
  EXPECT_TRUE(is_event_stream_content_type("Text/Event-Stream; charset=utf-8"));
  EXPECT_TRUE(is_event_stream_content_type("text/event-stream;charset=windows-1252"));
  EXPECT_TRUE(is_event_stream_content_type(" text/event-stream ; x=y"));
  EXPECT_FALSE(is_event_stream_content_type("text/x-bogus"));
  EXPECT_FALSE(is_event_stream_content_type("x bogus"));
  EXPECT_FALSE(is_event_stream_content_type(""));
  EXPECT_FALSE(is_event_stream_content_type("text/event-streams"));
  EXPECT_FALSE(is_event_stream_content_type("application/json"));
}

// Line ends found at every offset of the scan's 16-byte and 8-byte steps, for each terminator, among
// bytes that differ from CR and LF only in their high bit.
TEST(SseParser, LineEndsAreFoundAtEveryOffsetOfALongLine) {
  std::size_t checked = 0;
  for (const std::string term : {"\n", "\r", "\r\n"}) {
    for (std::size_t len = 0; len <= 70; ++len) {
      std::string value;
      for (std::size_t i = 0; i < len; ++i) value += "x\x8a\x8dy"[i % 4];
      std::vector<std::string> got;
      sse_parser parser([&](const sse_event& e) { got.emplace_back(e.data); });
      const std::string body = "data: " + value + term + "data:" + value + term + term + ":" + value + term;
      ASSERT_FALSE(parser.feed(body));
      ASSERT_EQ(got, std::vector<std::string>{value + "\n" + value}) << len << " " << testing::PrintToString(term);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3u * 71u);
}

}  // namespace
}  // namespace sg::provider
