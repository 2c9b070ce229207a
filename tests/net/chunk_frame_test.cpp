// The chunked body's frame written by hand for SSE writes, against Beast's own chunk encoding and parser.
#include "net/chunk_frame.hpp"

#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>

#include <gtest/gtest.h>

#include <string>

namespace sg::io {
namespace {

namespace http = boost::beast::http;

std::string text_of(boost::asio::const_buffer b) { return {static_cast<const char*>(b.data()), b.size()}; }

// The size line is the one Beast's chunk_header writes for a chunk without extensions.
TEST(ChunkFrame, SizeLineIsBeastsForEverySize) {
  std::size_t checked = 0;
  for (std::size_t bytes = 1; bytes < (std::size_t{1} << 62); bytes = bytes * 3 + 1) {
    chunk_size_line line;
    const auto ours = text_of(write_chunk_size(line, bytes));
    const auto beasts = boost::beast::buffers_to_string(http::chunk_header(bytes));
    EXPECT_EQ(ours, beasts) << bytes;
    ++checked;
  }
  for (std::size_t bytes : {std::size_t{15}, std::size_t{16}, std::size_t{255}, std::size_t{4096}, ~std::size_t{0}}) {
    chunk_size_line line;
    EXPECT_EQ(text_of(write_chunk_size(line, bytes)), boost::beast::buffers_to_string(http::chunk_header(bytes)));
  }
  EXPECT_GT(checked, 30u);
  chunk_size_line line;
  EXPECT_EQ(text_of(write_chunk_size(line, 0xabc)), "abc\r\n");
  EXPECT_EQ(text_of(chunk_end()), "\r\n");
}

// A body of framed chunks reads back, byte for byte, through Beast's parser.
TEST(ChunkFrame, FramedChunksParseBackWhole) {
  std::string wire = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  std::string expect;
  for (int i = 1; i <= 300; ++i) {
    const std::string data(static_cast<std::size_t>(i * 7), static_cast<char>('a' + i % 26));
    chunk_size_line line;
    wire += text_of(write_chunk_size(line, data.size()));
    wire += data;
    wire += text_of(chunk_end());
    expect += data;
  }
  wire += "0\r\n\r\n";
  http::response_parser<http::string_body> p;
  p.body_limit(wire.size());
  p.eager(true);
  boost::system::error_code ec;
  std::size_t used = 0;
  while (!p.is_done() && used < wire.size()) {
    const auto n = p.put(boost::asio::buffer(wire.data() + used, wire.size() - used), ec);
    ASSERT_FALSE(ec) << ec.message();
    ASSERT_GT(n, 0u);
    used += n;
  }
  EXPECT_EQ(used, wire.size());
  ASSERT_TRUE(p.is_done());
  EXPECT_EQ(p.get().body(), expect);
}

}  // namespace
}  // namespace sg::io
