// Names, statuses and retry hints for each error code.
#include "proto/error_code.hpp"

namespace sg::proto {

std::string_view to_string(error_code code) {
  switch (code) {
    case error_code::bad_request: return "bad_request";
    case error_code::unknown_action: return "unknown_action";
    case error_code::payload_too_large: return "payload_too_large";
    case error_code::not_found: return "not_found";
    case error_code::forbidden: return "forbidden";
    case error_code::unauthorized: return "unauthorized";
    case error_code::rate_limited: return "rate_limited";
    case error_code::too_many_streams: return "too_many_streams";
    case error_code::upstream_error: return "upstream_error";
    case error_code::upstream_timeout: return "upstream_timeout";
    case error_code::upstream_rate_limited: return "upstream_rate_limited";
    case error_code::upstream_unavailable: return "upstream_unavailable";
    case error_code::interrupted: return "interrupted";
    case error_code::unavailable: return "unavailable";
    case error_code::internal: return "internal";
  }
  return "internal";
}

std::optional<error_code> code_named(std::string_view name) {
  for (int i = static_cast<int>(error_code::bad_request); i <= static_cast<int>(error_code::internal); ++i)
    if (to_string(static_cast<error_code>(i)) == name) return static_cast<error_code>(i);
  return std::nullopt;
}

unsigned http_status(error_code code) {
  switch (code) {
    case error_code::bad_request: return 400;
    case error_code::unknown_action: return 400;
    case error_code::payload_too_large: return 413;
    case error_code::not_found: return 404;
    case error_code::forbidden: return 403;
    case error_code::unauthorized: return 401;
    case error_code::rate_limited: return 429;
    case error_code::too_many_streams: return 429;
    case error_code::upstream_error: return 502;
    case error_code::upstream_timeout: return 504;
    case error_code::upstream_rate_limited: return 503;
    case error_code::upstream_unavailable: return 503;
    case error_code::interrupted: return 503;
    case error_code::unavailable: return 503;
    case error_code::internal: return 500;
  }
  return 500;
}

namespace {
class protocol_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "streamgate"; }
  std::string message(int ev) const override { return std::string(to_string(static_cast<error_code>(ev))); }
};
}  // namespace

const boost::system::error_category& protocol_category() {
  static const protocol_category_impl category;
  return category;
}

boost::system::error_code make_error_code(error_code code) {
  return {static_cast<int>(code), protocol_category()};
}

bool default_retryable(error_code code) {
  switch (code) {
    case error_code::rate_limited:
    case error_code::too_many_streams:
    case error_code::upstream_timeout:
    case error_code::upstream_rate_limited:
    case error_code::upstream_unavailable:
    case error_code::interrupted:
    case error_code::unavailable:
      return true;
    default:
      return false;
  }
}

}  // namespace sg::proto
