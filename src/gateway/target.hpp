// A request target split into decoded path segments and query parameters.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::gateway {

struct target {
  std::vector<std::string> segments;
  std::string path;
  std::vector<std::pair<std::string, std::string>> query;
  bool valid = true;
  /// The first value of query parameter `key`, or null.
  const std::string* param(std::string_view key) const;
};

/// Parses an origin-form target ("/v1/streams/x?lastSeq=3"); `valid` is false for anything else.
target parse_target(std::string_view t);

}  // namespace sg::gateway
