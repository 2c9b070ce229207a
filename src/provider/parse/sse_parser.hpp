// Incremental text/event-stream parser that follows the WHATWG EventSource rules.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace sg::provider {

/// One dispatched event. The views point into the parser and stay valid only during the
/// callback: copy what must outlive it.
struct sse_event {
  std::string_view type;           ///< "message" unless an `event` field named it
  std::string_view data;           ///< `data` lines joined with '\n'
  std::string_view last_event_id;  ///< the stream's last event ID at dispatch time
};

/// Bounds on what a hostile or broken upstream can make the parser buffer.
struct sse_limits {
  std::size_t max_line_bytes = std::size_t{1} << 20;    ///< one line, terminator excluded
  std::size_t max_event_bytes = std::size_t{16} << 20;  ///< one event's joined data
};

/// Sans-I/O parser for one event stream: bytes in, events out through a callback.
/// Not thread-safe: use one instance per upstream stream, from one thread (or strand).
class sse_parser {
 public:
  using event_handler = std::function<void(const sse_event&)>;

  /// Creates a parser that reports each dispatched event to `on_event`; not thread-safe.
  explicit sse_parser(event_handler on_event, sse_limits limits = {});

  /// Feeds the next bytes (split anywhere) and dispatches the events they complete; returns
  /// the first error, which is sticky (a failed stream cannot be resynchronised); not thread-safe.
  std::error_code feed(std::string_view chunk);

  /// Ends the current response body: an event without its final blank line is dropped, as
  /// EventSource does. Returns true if anything was dropped. The parser is then ready for a
  /// reconnected stream (error cleared, BOM expected again), keeping last_event_id() and
  /// retry_ms(); not thread-safe.
  bool finish();

  /// The last event ID string, to send as Last-Event-ID when reconnecting; not thread-safe.
  [[nodiscard]] const std::string& last_event_id() const noexcept { return last_event_id_; }

  /// The reconnection time from the latest all-digit `retry` field, if any; not thread-safe.
  [[nodiscard]] std::optional<std::uint64_t> retry_ms() const noexcept { return retry_ms_; }

  /// The sticky error from feed(), or an empty code; not thread-safe.
  [[nodiscard]] std::error_code error() const noexcept { return error_; }

 private:
  void process(const char* p, const char* end);
  void process_line(std::string_view line);
  void process_field(std::string_view field, std::string_view value);
  void dispatch();

  event_handler on_event_;
  sse_limits limits_;
  std::string line_;           // a line split across chunks, kept until its terminator
  std::string data_;           // the data buffer, each line followed by '\n'
  std::string event_type_;     // the event type buffer
  std::string id_buffer_;      // the last event ID buffer (set by `id`, committed on dispatch)
  std::string last_event_id_;  // the last event ID string
  std::optional<std::uint64_t> retry_ms_;
  std::error_code error_;
  std::uint8_t bom_matched_ = 0;  // bytes of a leading UTF-8 BOM seen so far
  bool at_stream_start_ = true;   // a BOM is stripped only before the first byte of a body
  bool skip_lf_ = false;          // the previous chunk ended in CR: a leading LF belongs to it
};

/// True if a Content-Type names text/event-stream (any parameters, any case); pure function.
[[nodiscard]] bool is_event_stream_content_type(std::string_view content_type) noexcept;

}  // namespace sg::provider
