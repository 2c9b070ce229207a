// RESP without sockets: hiredis's reader, fed the bytes we read, and its command formatter.
#pragma once

#include "core/result.hpp"
#include "redis/reply.hpp"

#include <cstddef>
#include <memory>
#include <optional>
#include <string>

struct redisReader;

namespace sg::redis {

class reader {
 public:
  reader();
  ~reader();
  reader(const reader&) = delete;
  reader& operator=(const reader&) = delete;
  /// errc::protocol when the reader cannot take the bytes (drop the connection).
  boost::system::error_code feed(const char* p, std::size_t n);
  /// The next whole reply; nullopt until more bytes come. errc::protocol on bytes that are not RESP
  /// (the reader is then unusable: drop the connection).
  result<std::optional<reply>> next();

 private:
  redisReader* r_;
};

/// The RESP bytes of a command (an array of bulk strings), binary-safe.
std::string format(const command& c);

/// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
struct endpoint {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string user, password;
  int db = 0;
};
/// Throws std::invalid_argument with a message that never holds the password.
endpoint parse_url(std::string_view url);

}  // namespace sg::redis
