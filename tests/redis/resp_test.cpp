// RESP without sockets: hiredis's reader fed byte ranges, the command formatter, the URL.
#include "redis/resp.hpp"

#include <gtest/gtest.h>

namespace sg::redis {
namespace {

// Moves every whole reply the reader holds into `out`; a protocol error fails the test.
void take_replies(reader& r, std::vector<reply>& out) {
  for (;;) {
    auto rep = r.next();
    ASSERT_TRUE(rep.has_value()) << rep.error().message();
    if (!*rep) return;
    out.push_back(std::move(**rep));
  }
}

std::vector<reply> read_all(const std::string& bytes, std::size_t piece) {
  reader r;
  std::vector<reply> out;
  for (std::size_t at = 0; at < bytes.size(); at += piece) {
    EXPECT_FALSE(r.feed(bytes.data() + at, std::min(piece, bytes.size() - at)));
    take_replies(r, out);
  }
  return out;
}

const std::string every_type =
    "+OK\r\n"
    "-ERR wrong type\r\n"
    ":-42\r\n"
    "$5\r\nhe\r\nl\r\n"             // a bulk string holding CRLF
    "$-1\r\n"                       // nil bulk
    "*-1\r\n"                       // nil array
    "*0\r\n"
    "*3\r\n:1\r\n*2\r\n$1\r\na\r\n$0\r\n\r\n+x\r\n";  // nested, with an empty bulk

void expect_every_type(const std::vector<reply>& r) {
  ASSERT_EQ(r.size(), 8u);
  EXPECT_EQ(r[0].type, reply::kind::status);
  EXPECT_EQ(r[0].str, "OK");
  EXPECT_TRUE(r[1].is_error());
  EXPECT_EQ(r[1].str, "ERR wrong type");
  EXPECT_EQ(r[2].type, reply::kind::integer);
  EXPECT_EQ(r[2].integer, -42);
  EXPECT_EQ(r[3].type, reply::kind::string);
  EXPECT_EQ(r[3].str, "he\r\nl");
  EXPECT_TRUE(r[4].is_nil());
  EXPECT_TRUE(r[5].is_nil());
  EXPECT_EQ(r[6].type, reply::kind::array);
  EXPECT_TRUE(r[6].elements.empty());
  ASSERT_EQ(r[7].elements.size(), 3u);
  EXPECT_EQ(r[7].elements[0].integer, 1);
  ASSERT_EQ(r[7].elements[1].elements.size(), 2u);
  EXPECT_EQ(r[7].elements[1].elements[0].str, "a");
  EXPECT_EQ(r[7].elements[1].elements[1].str, "");
  EXPECT_EQ(r[7].elements[2].str, "x");
}

TEST(Resp, EveryReplyTypeWholeAndSplitAtEveryByte) {
  for (std::size_t piece : {every_type.size(), std::size_t{1}, std::size_t{2}, std::size_t{3}, std::size_t{7}})
    expect_every_type(read_all(every_type, piece));
  // Split into two at every position.
  for (std::size_t cut = 1; cut < every_type.size(); ++cut) {
    reader r;
    std::vector<reply> out;
    EXPECT_FALSE(r.feed(every_type.data(), cut));
    take_replies(r, out);
    EXPECT_FALSE(r.feed(every_type.data() + cut, every_type.size() - cut));
    take_replies(r, out);
    expect_every_type(out);
  }
}

TEST(Resp, BinarySafeBulkAndABigOne) {
  std::string binary("a\0b\r\n\xff", 6);
  std::string big(1 << 20, 'z');
  big[12345] = '\0';
  auto bytes = "$6\r\n" + binary + "\r\n$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
  auto r = read_all(bytes, 4096);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].str, binary);
  EXPECT_EQ(r[1].str, big);
}

TEST(Resp, AThousandPipelinedRepliesInPieces) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes += ":" + std::to_string(i) + "\r\n";
  for (std::size_t piece : {1u, 5u, 64u}) {
    auto r = read_all(bytes, piece);
    ASSERT_EQ(r.size(), 1000u);
    for (int i = 0; i < 1000; ++i) EXPECT_EQ(r[i].integer, i);
  }
}

TEST(Resp, GarbageIsAProtocolErrorNotACrash) {
  for (std::string bad : {"?what\r\n", "$abc\r\n", ":12x\r\n", "*2\r\n!\r\n"}) {
    reader r;
    ASSERT_FALSE(r.feed(bad.data(), bad.size()));
    auto rep = r.next();
    while (rep && *rep) rep = r.next();  // any whole replies before the garbage
    ASSERT_TRUE(rep.has_error()) << bad;
    EXPECT_EQ(rep.error(), make_error_code(errc::protocol)) << bad;
  }
}

TEST(Resp, FormatIsAnArrayOfBulkStrings) {
  EXPECT_EQ(format({"SET", "k", "v"}), "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
  std::string binary("x\0\r\ny", 5);
  EXPECT_EQ(format({"XADD", binary, ""}), "*3\r\n$4\r\nXADD\r\n$5\r\n" + binary + "\r\n$0\r\n\r\n");
  // What the formatter writes, the reader reads back (a server's view of a request).
  auto r = read_all(format({"PUBLISH", "chan", binary}), 3);
  ASSERT_EQ(r.size(), 1u);
  ASSERT_EQ(r[0].elements.size(), 3u);
  EXPECT_EQ(r[0].elements[2].str, binary);
}

TEST(Resp, Urls) {
  auto a = parse_url("redis://127.0.0.1:6380");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 6380);
  EXPECT_EQ(a.db, 0);
  EXPECT_TRUE(a.password.empty());
  auto b = parse_url("redis://:s3cret@redis.internal/2");
  EXPECT_EQ(b.host, "redis.internal");
  EXPECT_EQ(b.port, 6379);
  EXPECT_EQ(b.password, "s3cret");
  EXPECT_EQ(b.db, 2);
  auto c = parse_url("redis://app:pw@[::1]:7000/15");
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 7000);
  EXPECT_EQ(c.user, "app");
  EXPECT_EQ(c.password, "pw");
  EXPECT_EQ(c.db, 15);
  for (auto bad : {"http://h:1", "redis://", "redis://h:0", "redis://h:70000", "redis://h:1/16", "redis://h/x",
                   "redis://h:port"}) {
    try {
      parse_url(bad);
      ADD_FAILURE() << bad;
    } catch (const std::invalid_argument& e) {
      EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos);
    }
  }
  try {
    parse_url("redis://:s3cret@h:99999");
    ADD_FAILURE();
  } catch (const std::invalid_argument& e) {
    EXPECT_EQ(std::string(e.what()).find("s3cret"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace sg::redis
