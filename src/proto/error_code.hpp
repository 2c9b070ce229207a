// The stable error codes of the wire protocol (docs/protocol.md) and their HTTP statuses.
#pragma once

#include <string_view>

namespace sg::proto {

enum class error_code {
  bad_request,
  unknown_action,
  payload_too_large,
  not_found,
  forbidden,
  unauthorized,
  rate_limited,
  too_many_streams,
  upstream_error,
  upstream_timeout,
  upstream_rate_limited,
  upstream_unavailable,
  interrupted,
  unavailable,
  internal,
};

/// The code as it appears on the wire, e.g. "too_many_streams".
std::string_view to_string(error_code code);
/// The HTTP status a REST/SSE answer with this code carries.
unsigned http_status(error_code code);
/// Whether a client may retry the same request unchanged.
bool default_retryable(error_code code);

}  // namespace sg::proto
