// A Redis reply (RESP2), and the errors of the Redis client.
#pragma once

#include <boost/system/error_code.hpp>

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::redis {

struct reply {
  enum class kind { string, status, error, integer, nil, array };
  kind type = kind::nil;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<reply> elements;  // array
  bool is_error() const { return type == kind::error; }
  bool is_nil() const { return type == kind::nil; }
};

using command = std::vector<std::string>;

/// A whole decimal integer held in a string (hash fields and script results come back as strings);
/// nullopt for anything else.
inline std::optional<std::int64_t> parse_int(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return v;
}

enum class errc {
  not_connected = 1,  // the connection is down: nothing was sent
  timeout,            // no reply within the request deadline: the connection was dropped
  protocol,           // the server sent something that is not RESP
  closed,             // the connection was lost with the request unanswered
  stopped,            // the client was stopped
  server,             // the server refused the connection's set-up (AUTH, SELECT)
};
const boost::system::error_category& category();
inline boost::system::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace sg::redis
