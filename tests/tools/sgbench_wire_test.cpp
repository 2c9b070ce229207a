// Unit tests for the tools' sans-I/O parts: WebSocket frames, HTTP bodies, field scans, histogram, sgcat args.
#include "../../tools/sgbench/histogram.hpp"
#include "../../tools/sgbench/wire.hpp"
#include "../../tools/sgcat/args.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sg::tools {
namespace {

std::string server_frame(std::uint8_t opcode, const std::string& payload, bool fin = true) {
  std::string f;
  f += static_cast<char>((fin ? 0x80 : 0) | opcode);
  if (payload.size() < 126) {
    f += static_cast<char>(payload.size());
  } else {
    f += static_cast<char>(126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xFF);
  }
  return f + payload;
}

TEST(WsFrame, ParsesSmallAndMediumFramesAndWaitsForMore) {
  std::string big(300, 'x');
  std::string buf = server_frame(1, "{\"type\":\"pong\"}") + server_frame(1, big);
  auto f1 = parse_ws_frame(buf.data(), buf.size());
  ASSERT_TRUE(f1);
  EXPECT_EQ(f1->opcode, 1);
  EXPECT_EQ(f1->payload, "{\"type\":\"pong\"}");
  auto rest = buf.substr(f1->consumed);
  auto f2 = parse_ws_frame(rest.data(), rest.size());
  ASSERT_TRUE(f2);
  EXPECT_EQ(f2->payload.size(), 300u);
  for (std::size_t cut = 0; cut < rest.size(); ++cut) EXPECT_FALSE(parse_ws_frame(rest.data(), cut)) << cut;
}

TEST(WsFrame, ClientFramesAreMaskedAndRoundTrip) {
  for (std::size_t n : {0u, 5u, 125u, 126u, 70000u}) {
    std::string payload(n, 'a');
    auto f = make_ws_frame(1, payload, 0x12345678u);
    EXPECT_TRUE(static_cast<std::uint8_t>(f[1]) & 0x80);
    auto p = parse_ws_frame(f.data(), f.size());
    ASSERT_TRUE(p) << n;
    EXPECT_EQ(p->payload, payload);
    EXPECT_EQ(p->consumed, f.size());
  }
}

TEST(JsonScan, FindsTopLevelFieldsButNotTextInsideStrings) {
  std::string j =
      R"({"type":"stream_chunk","streamId":"st_1","seq":42,"firstSeq":40,"content":"say \"type\":\"x\" \"seq\":7","dueUs":1700000000000123})";
  EXPECT_EQ(json_str(j, "type"), "stream_chunk");
  EXPECT_EQ(json_str(j, "streamId"), "st_1");
  EXPECT_EQ(json_int(j, "seq"), 42);
  EXPECT_EQ(json_int(j, "firstSeq"), 40);
  EXPECT_EQ(json_int(j, "dueUs"), 1700000000000123);
  EXPECT_EQ(json_int(j, "missing", -1), -1);
  EXPECT_EQ(json_str(j, "missing"), "");
}

struct collect {
  std::vector<int> statuses;
  std::string body;
  int ends = 0;
  void on_status(int s) { statuses.push_back(s); }
  void on_body(std::string_view b) { body.append(b); }
  void on_end() { ++ends; }
};

TEST(HttpReader, ChunkedThenContentLengthOnOneConnectionSplitAnywhere) {
  std::string wire =
      "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"
      "HTTP/1.1 404 Not Found\r\nContent-Length: 4\r\n\r\nnope";
  for (std::size_t step : {1u, 3u, 7u, 1000u}) {
    collect c;
    http_response_reader<collect> r(c);
    for (std::size_t i = 0; i < wire.size(); i += step) ASSERT_TRUE(r.feed(std::string_view(wire).substr(i, step)));
    EXPECT_EQ(c.statuses, (std::vector<int>{200, 404})) << step;
    EXPECT_EQ(c.body, "hello, worldnope") << step;
    EXPECT_EQ(c.ends, 2) << step;
  }
}

TEST(HttpReader, RejectsGarbage) {
  collect c;
  http_response_reader<collect> r(c);
  EXPECT_FALSE(r.feed("SSH-2.0-OpenSSH\r\n\r\n"));
}

TEST(Histogram, PercentilesWithinBucketPrecision) {
  histogram h;
  for (int i = 1; i <= 10000; ++i) h.record(i);
  EXPECT_EQ(h.count(), 10000u);
  EXPECT_EQ(h.max(), 10000u);
  auto near = [](std::uint64_t got, double want) { return std::abs(static_cast<double>(got) - want) <= want / 60 + 1; };
  EXPECT_TRUE(near(h.percentile(50), 5000)) << h.percentile(50);
  EXPECT_TRUE(near(h.percentile(99), 9900)) << h.percentile(99);
  EXPECT_TRUE(near(h.percentile(99.9), 9990)) << h.percentile(99.9);
  EXPECT_EQ(h.percentile(100), 10000u);
  h.record(-5);
  EXPECT_EQ(h.negative(), 1u);
  histogram other;
  other.record(1'000'000);
  h.merge(other);
  EXPECT_EQ(h.max(), 1'000'000u);
  for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 129ull, 255ull, 256ull, 123456789ull})
    EXPECT_GE(histogram::upper(histogram::index(v)), v);
}

TEST(SgcatArgs, Urls) {
  auto w = parse_cat_url("ws://127.0.0.1:8080/ws");
  EXPECT_FALSE(w.sse);
  EXPECT_EQ(w.host, "127.0.0.1");
  EXPECT_EQ(w.port, "8080");
  EXPECT_EQ(w.path, "/ws");
  EXPECT_EQ(parse_cat_url("ws://localhost:9").path, "/ws");
  auto h = parse_cat_url("http://[::1]:8080/api/");
  EXPECT_TRUE(h.sse);
  EXPECT_EQ(h.host, "::1");
  EXPECT_EQ(h.path, "/api");
  EXPECT_THROW(parse_cat_url("ftp://x:1"), std::invalid_argument);
  EXPECT_THROW(parse_cat_url("ws://x:99999/ws"), std::invalid_argument);
  EXPECT_THROW(parse_cat_url("wss://x:443/ws"), std::invalid_argument);
}

TEST(SgcatArgs, ResumeAndBar) {
  EXPECT_EQ(parse_resume("st_abc:17"), (std::pair<std::string, std::uint64_t>{"st_abc", 17}));
  EXPECT_EQ(parse_resume("st_abc").second, 0u);
  EXPECT_THROW(parse_resume(":3"), std::invalid_argument);
  EXPECT_THROW(parse_resume("st:x"), std::invalid_argument);
  EXPECT_EQ(progress_bar(50, "Generating", 10), "[#####-----]  50% Generating");
  EXPECT_EQ(progress_bar(150, "", 4), "[####] 100% ");
}

// The stamps are taken only once both numbers are whole: a read that cuts one yields nothing yet.
TEST(StampSpan, ReadsBothStampsOnlyWhenWhole) {
  std::string ev = R"(data: {"choices":[{"delta":{"content":"@1000250|1000975"}}]})";
  EXPECT_EQ(stamp_span_us(ev), 725);
  for (std::size_t cut = 0; cut < ev.find("975") + 3; ++cut) {
    SCOPED_TRACE(cut);
    EXPECT_FALSE(stamp_span_us(std::string_view(ev).substr(0, cut)).has_value());
  }
  EXPECT_EQ(stamp_span_us("x@user mail, then @5|9\n"), 4);  // an "@" without stamps is skipped
  EXPECT_FALSE(stamp_span_us("@12|\n").has_value());
  EXPECT_FALSE(stamp_span_us("no stamps here").has_value());
}

}  // namespace
}  // namespace sg::tools
