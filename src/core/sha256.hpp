// SHA-256 through OpenSSL 3, with the algorithm fetched once and a digest context per thread.
#pragma once

#include <array>
#include <string_view>

namespace sg::core {

using sha256_digest = std::array<unsigned char, 32>;

/// The SHA-256 of `data`. Throws std::runtime_error if OpenSSL fails.
sha256_digest sha256(std::string_view data);

}  // namespace sg::core
