// AWS application/vnd.amazon.eventstream framing: incremental decoder, encoder, header helpers.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <variant>
#include <vector>

namespace sg::provider::aws {

enum class event_stream_errc {
  message_too_short = 1,   ///< total length below the 16-byte minimum
  message_too_long,        ///< total length above the decoder's limit
  headers_too_long,        ///< headers length above the decoder's limit
  invalid_headers_length,  ///< headers do not fit between prelude and message CRC
  prelude_crc_mismatch,    ///< the first 8 bytes do not match the prelude CRC
  message_crc_mismatch,    ///< the frame does not match its trailing CRC
  header_truncated,        ///< a header runs past the end of the headers section
  invalid_header_type,     ///< a header value type outside 0..9
  truncated_message,       ///< the stream ended inside a frame
  length_mismatch,         ///< a whole frame's size differs from its total length field
};

/// The category of event_stream_errc; a process-wide constant, safe from any thread.
[[nodiscard]] const std::error_category& event_stream_category() noexcept;

/// Wraps an event_stream_errc into a std::error_code; pure function.
[[nodiscard]] inline std::error_code make_error_code(event_stream_errc e) noexcept {
  return {static_cast<int>(e), event_stream_category()};
}

/// Wire codes of header values.
enum class header_type : std::uint8_t {
  bool_true = 0,
  bool_false = 1,
  byte = 2,
  int16 = 3,
  int32 = 4,
  int64 = 5,
  byte_array = 6,
  string = 7,
  timestamp = 8,
  uuid = 9,
};

/// Opaque bytes, kept apart from `std::string` so the two wire types stay distinct.
struct byte_array {
  std::string bytes;
  friend bool operator==(const byte_array&, const byte_array&) = default;
};

/// Milliseconds since the Unix epoch, as the wire carries them.
struct timestamp {
  std::int64_t millis = 0;
  friend bool operator==(const timestamp&, const timestamp&) = default;
};

using uuid = std::array<std::uint8_t, 16>;

/// A header value; the alternative names the wire type (bool covers both bool codes).
using header_value = std::variant<bool, std::int8_t, std::int16_t, std::int32_t, std::int64_t,
                                  byte_array, std::string, timestamp, uuid>;

struct event_stream_header {
  std::string name;
  header_value value;
  friend bool operator==(const event_stream_header&, const event_stream_header&) = default;
};

/// One decoded frame; headers keep their wire order.
struct event_stream_message {
  std::vector<event_stream_header> headers;
  std::string payload;

  /// The first header called `name`, or null; const, so safe alongside other readers.
  [[nodiscard]] const header_value* find(std::string_view name) const noexcept;
  /// The value of a string header called `name`, or nullopt if absent or not a string; const.
  [[nodiscard]] std::optional<std::string_view> string_header(std::string_view name) const noexcept;

  friend bool operator==(const event_stream_message&, const event_stream_message&) = default;
};

/// The wire type code of a header value; pure function.
[[nodiscard]] header_type type_of(const header_value& value) noexcept;

enum class message_type { event, exception, error, unknown };

/// Classifies a frame by its `:message-type` header; pure function.
[[nodiscard]] message_type message_type_of(const event_stream_message& m) noexcept;
/// The `:event-type` header (e.g. "chunk"), if present; pure function.
[[nodiscard]] std::optional<std::string_view> event_type_of(const event_stream_message& m) noexcept;
/// The `:exception-type` header (e.g. "throttlingException"), if present; pure function.
[[nodiscard]] std::optional<std::string_view> exception_type_of(const event_stream_message& m) noexcept;
/// The `:error-code` header of an error frame, if present; pure function.
[[nodiscard]] std::optional<std::string_view> error_code_of(const event_stream_message& m) noexcept;
/// The `:error-message` header of an error frame, if present; pure function.
[[nodiscard]] std::optional<std::string_view> error_message_of(const event_stream_message& m) noexcept;

/// Frame-size bounds; the defaults match what AWS services send (16 MiB payloads, 128 KiB headers).
struct event_stream_limits {
  std::uint32_t max_message_bytes = 16u * 1024 * 1024 + 128u * 1024 + 16;
  std::uint32_t max_headers_bytes = 128u * 1024;
};

/// Sans-I/O decoder for a stream of frames: bytes in (split anywhere), messages out.
/// Not thread-safe: use one instance per upstream stream.
class event_stream_decoder {
 public:
  /// Creates a decoder bounded by `limits`; not thread-safe.
  explicit event_stream_decoder(event_stream_limits limits = {}) : limits_(limits) {}

  /// Feeds the next bytes and appends every frame they complete to `out`. Returns the first
  /// error, which is sticky: after a bad length or CRC the stream cannot be resynchronised.
  /// Not thread-safe.
  std::error_code feed(std::string_view chunk, std::vector<event_stream_message>& out);

  /// Ends the stream: truncated_message if it stopped inside a frame; not thread-safe.
  [[nodiscard]] std::error_code finish() const noexcept;

  /// Bytes held for a frame not yet complete; not thread-safe.
  [[nodiscard]] std::size_t buffered() const noexcept { return buffer_.size(); }

 private:
  std::error_code check_prelude(const unsigned char* prelude);

  event_stream_limits limits_;
  std::string buffer_;         // the frame being assembled
  std::uint32_t expected_ = 0;  // its total length once the prelude is known, else 0
  std::error_code error_;
};

/// Decodes exactly one whole frame; pure function.
[[nodiscard]] std::error_code decode_message(std::string_view frame, event_stream_message& out,
                                             event_stream_limits limits = {});

/// Encodes one frame (prelude, headers, payload, CRCs); throws std::length_error if a name
/// exceeds 255 bytes, a string/bytes value 32767 bytes, or the frame 2^31 bytes. Pure function.
[[nodiscard]] std::string encode_message(const event_stream_message& m);

}  // namespace sg::provider::aws

template <>
struct std::is_error_code_enum<sg::provider::aws::event_stream_errc> : std::true_type {};
