// Fuzz helper: cuts the input into pseudo-random chunks chosen by the input itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace sg::fuzz {

/// Splits `data` into chunks of 1..64 bytes from a generator seeded by `seed`, so one input
/// exercises both a whole feed and a split feed and the two can be compared.
inline std::vector<std::string_view> chunks_of(std::string_view data, std::uint8_t seed) {
  std::vector<std::string_view> out;
  std::uint32_t state = 0x9E3779B9u ^ seed;
  for (std::size_t i = 0; i < data.size();) {
    state = state * 1664525u + 1013904223u;
    const std::size_t n = 1 + (state >> 24) % 64;
    out.push_back(data.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace sg::fuzz
