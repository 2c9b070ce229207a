// Incremental newline-delimited JSON parser (Ollama's streaming format).
#pragma once

#include <boost/json/value.hpp>

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sg::provider {

/// One non-empty line: either a parsed value or the reason it could not be parsed.
struct ndjson_item {
  boost::json::value value;  ///< null when `error` is set
  std::error_code error;     ///< parse_errc::invalid_json or parse_errc::line_too_long
  std::string detail;        ///< a human-readable reason when `error` is set
  std::size_t line = 0;      ///< 1-based line number in the stream
};

/// Sans-I/O NDJSON parser: bytes in (split anywhere), one item per non-empty line out.
/// Bad lines are reported, never thrown, and the parser carries on with the next line.
/// Not thread-safe: use one instance per upstream stream.
class ndjson_parser {
 public:
  static constexpr std::size_t default_max_line_bytes = std::size_t{1} << 20;

  /// Creates a parser that rejects lines longer than `max_line_bytes`; not thread-safe.
  explicit ndjson_parser(std::size_t max_line_bytes = default_max_line_bytes);
  ~ndjson_parser();
  ndjson_parser(ndjson_parser&&) noexcept;
  ndjson_parser& operator=(ndjson_parser&&) noexcept;

  /// Feeds the next bytes and appends one item per line they complete to `out`; not thread-safe.
  void feed(std::string_view chunk, std::vector<ndjson_item>& out);

  /// Feeds the next bytes and returns the items for the lines they complete; not thread-safe.
  [[nodiscard]] std::vector<ndjson_item> feed(std::string_view chunk);

  /// Ends the stream: a last line without a newline is parsed and appended; not thread-safe.
  void finish(std::vector<ndjson_item>& out);

  /// Ends the stream and returns the item for a last unterminated line, if any; not thread-safe.
  [[nodiscard]] std::vector<ndjson_item> finish();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace sg::provider
