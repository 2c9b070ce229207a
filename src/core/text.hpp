// Small text helpers shared across layers.
#pragma once

#include <string>
#include <string_view>

namespace sg::core {

/// `s` with the ASCII letters A-Z made lower case; every other byte (UTF-8 included) as it was.
/// For names the protocols compare case-insensitively: hosts, header and parameter names, media types.
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace sg::core
