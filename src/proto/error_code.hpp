// The stable error codes of the wire protocol (docs/protocol.md) and their HTTP statuses.
#pragma once

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>

#include <optional>
#include <string_view>
#include <type_traits>

namespace sg::proto {

/// Numbered from 1: a Boost.System error code with value 0 means success.
enum class error_code {
  bad_request = 1,
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
/// The code with this wire name; nullopt for a name the protocol does not have.
std::optional<error_code> code_named(std::string_view name);
/// The HTTP status a REST/SSE answer with this code carries.
unsigned http_status(error_code code);
/// Whether a client may retry the same request unchanged.
bool default_retryable(error_code code);

/// The protocol's codes as a Boost.System category: `message()` is the wire name.
const boost::system::error_category& protocol_category();
boost::system::error_code make_error_code(error_code code);

}  // namespace sg::proto

template <>
struct boost::system::is_error_code_enum<sg::proto::error_code> : std::true_type {};
