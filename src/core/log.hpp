// Structured logging: one JSON object per line on stderr.
#pragma once

#include <boost/json/value.hpp>

#include <initializer_list>
#include <string_view>
#include <type_traits>
#include <utility>

namespace sg::core {

enum class log_level { debug = 0, info = 1, warn = 2, error = 3 };

/// Sets the lowest level that is written. Call at start-up, before threads run.
void set_log_level(log_level level);
/// Parses "debug" | "info" | "warn" | "error"; throws std::invalid_argument otherwise.
log_level parse_log_level(std::string_view text);
/// True when a line at `level` would be written. Thread-safe.
bool log_enabled(log_level level);

/// A key and a value: strings of any kind, numbers and JSON values convert without ceremony. A
/// string is kept as a view and copied only when the line is written: a line below the level
/// costs no allocation. Fields are made for one log() call (its braced list), so what a view
/// shows outlives it.
struct log_field {
  template <class T>
  log_field(std::string_view k, const T& v) : key(k) {
    if constexpr (std::is_convertible_v<const T&, std::string_view>) {
      text = v;
      is_text = true;
    } else {
      value = boost::json::value(v);
    }
  }
  std::string_view key;
  std::string_view text;  // the value, when is_text
  bool is_text = false;
  boost::json::value value;
};

/// Writes {"ts":…,"level":…,"msg":…, fields…} as one line; thread-safe, one write(2) per line.
void log(log_level level, std::string_view msg, std::initializer_list<log_field> fields = {});

inline void log_info(std::string_view msg, std::initializer_list<log_field> fields = {}) {
  log(log_level::info, msg, fields);
}
inline void log_warn(std::string_view msg, std::initializer_list<log_field> fields = {}) {
  log(log_level::warn, msg, fields);
}
inline void log_error(std::string_view msg, std::initializer_list<log_field> fields = {}) {
  log(log_level::error, msg, fields);
}

}  // namespace sg::core
