// Test helper: the ways a byte stream can be cut into chunks, for incremental parsers.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sg::provider::test {

struct chunking {
  std::string name;
  std::vector<std::string_view> chunks;
};

/// The input whole, split once at every byte boundary, one byte at a time, and in chunks of
/// 2..7 bytes with an empty chunk between each (empty reads must not disturb state).
inline std::vector<chunking> all_chunkings(std::string_view input) {
  std::vector<chunking> out;
  out.push_back({"whole", {input}});
  for (std::size_t cut = 1; cut < input.size(); ++cut)
    out.push_back({"split at " + std::to_string(cut), {input.substr(0, cut), input.substr(cut)}});
  chunking bytes{"byte by byte", {}};
  for (std::size_t i = 0; i < input.size(); ++i) bytes.chunks.push_back(input.substr(i, 1));
  out.push_back(std::move(bytes));
  for (std::size_t width = 2; width <= 7; ++width) {
    chunking c{"chunks of " + std::to_string(width) + " with empties", {}};
    for (std::size_t i = 0; i < input.size(); i += width) {
      c.chunks.push_back(input.substr(i, width));
      c.chunks.push_back(std::string_view{});
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// Bytes from a hex string such as "0000001d"; test vectors are easiest to read that way.
inline std::string from_hex(std::string_view hex) {
  const auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return c - 'A' + 10;
  };
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2)
    out.push_back(static_cast<char>(nibble(hex[i]) << 4 | nibble(hex[i + 1])));
  return out;
}

}  // namespace sg::provider::test
