// Error codes shared by the sans-I/O stream parsers (SSE, NDJSON).
#pragma once

#include <system_error>
#include <type_traits>

namespace sg::provider {

enum class parse_errc {
  line_too_long = 1,   ///< a line grew past the configured maximum before its terminator
  event_too_large,     ///< an SSE event's data grew past the configured maximum
  invalid_json,        ///< an NDJSON line is not one complete JSON value
};

/// The category of parse_errc; a process-wide constant, safe from any thread.
[[nodiscard]] const std::error_category& parse_category() noexcept;

/// Wraps a parse_errc into a std::error_code; pure function.
[[nodiscard]] inline std::error_code make_error_code(parse_errc e) noexcept {
  return {static_cast<int>(e), parse_category()};
}

}  // namespace sg::provider

template <>
struct std::is_error_code_enum<sg::provider::parse_errc> : std::true_type {};
