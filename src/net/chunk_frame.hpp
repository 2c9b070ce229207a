// The frame around one chunk of an HTTP/1.1 chunked body (RFC 9112 §7.1): the size line before the
// chunk's data and the CRLF after it. Written into the caller's storage, so that a chunk's write is a
// flat list of buffers: Beast's chunk_body allocates its size line and walks a concatenated buffer
// sequence on every write.
#pragma once

#include <boost/asio/buffer.hpp>

#include <array>
#include <charconv>
#include <cstddef>

namespace sg::io {

/// Room for the size line of any chunk: up to 16 hex digits and CRLF.
using chunk_size_line = std::array<char, 18>;

/// Writes the size line of a chunk of `bytes` bytes (lowercase hex, no extensions, then CRLF) into
/// `line` and returns its bytes, which stay valid as long as `line` does. `bytes` must not be 0: a
/// chunk of size 0 ends the body.
inline boost::asio::const_buffer write_chunk_size(chunk_size_line& line, std::size_t bytes) {
  auto r = std::to_chars(line.data(), line.data() + 16, bytes, 16);
  r.ptr[0] = '\r';
  r.ptr[1] = '\n';
  return {line.data(), static_cast<std::size_t>(r.ptr + 2 - line.data())};
}

/// The CRLF that ends a chunk's data.
inline boost::asio::const_buffer chunk_end() {
  static constexpr char crlf[] = "\r\n";
  return {crlf, 2};
}

}  // namespace sg::io
