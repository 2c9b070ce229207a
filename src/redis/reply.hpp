// A Redis reply (RESP2), and the errors of the Redis client.
#pragma once

#include <boost/system/error_code.hpp>

#include <string>
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
