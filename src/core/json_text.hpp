// JSON text: a string written as a JSON string literal, the one escaping rule for events and logs.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sg::core {

/// Appends `s` to `out` as a JSON string literal (quotes included): '"', '\\' and control bytes
/// escaped, valid UTF-8 kept as it is, each byte of an invalid sequence written as U+FFFD.
void append_json_string(std::string& out, std::string_view s);

/// True if append_json_string writes `s` as it is, between quotes (printable ASCII other than
/// '"' and '\\').
bool json_plain(std::string_view s);

}  // namespace sg::core
