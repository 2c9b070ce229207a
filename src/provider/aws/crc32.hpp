// CRC-32 (IEEE 802.3 / zlib polynomial) used to check AWS event stream frames.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace sg::provider::aws {

/// Continues a CRC-32 over `data`, starting from `crc` (0 for a fresh checksum); pure function.
[[nodiscard]] std::uint32_t crc32_update(std::uint32_t crc, const void* data, std::size_t size) noexcept;

/// CRC-32 of `data`, the value zlib's crc32(0, data, size) returns; pure function.
[[nodiscard]] inline std::uint32_t crc32(std::string_view data) noexcept {
  return crc32_update(0, data.data(), data.size());
}

}  // namespace sg::provider::aws
