// AWS event stream frames: 12-byte prelude, typed headers, payload, CRC-32 trailer.
#include "provider/aws/event_stream.hpp"

#include "provider/aws/crc32.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>

namespace sg::provider::aws {
namespace {

constexpr std::size_t prelude_size = 12;  // total length, headers length, prelude CRC
constexpr std::size_t trailer_size = 4;   // message CRC
constexpr std::size_t min_frame = prelude_size + trailer_size;

std::uint32_t be32(const unsigned char* p) noexcept {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
         std::uint32_t{p[3]};
}

std::uint64_t be64(const unsigned char* p) noexcept {
  return std::uint64_t{be32(p)} << 32 | be32(p + 4);
}

void put_be(std::string& out, std::uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFFu));
}

class event_stream_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sg.aws.event_stream"; }

  std::string message(int value) const override {
    switch (static_cast<event_stream_errc>(value)) {
      case event_stream_errc::message_too_short: return "frame shorter than the 16-byte minimum";
      case event_stream_errc::message_too_long: return "frame longer than the configured maximum";
      case event_stream_errc::headers_too_long: return "headers longer than the configured maximum";
      case event_stream_errc::invalid_headers_length:
        return "headers length does not fit in the frame";
      case event_stream_errc::prelude_crc_mismatch: return "prelude checksum mismatch";
      case event_stream_errc::message_crc_mismatch: return "message checksum mismatch";
      case event_stream_errc::header_truncated: return "header runs past the headers section";
      case event_stream_errc::invalid_header_type: return "unknown header value type";
      case event_stream_errc::truncated_message: return "stream ended inside a frame";
      case event_stream_errc::length_mismatch: return "frame size differs from its length field";
    }
    return "unknown event stream error";
  }
};

// Validates the prelude and yields the frame's total length.
std::error_code check_prelude_bytes(const unsigned char* p, const event_stream_limits& limits,
                                    std::uint32_t& total) noexcept {
  total = be32(p);
  const std::uint32_t headers_len = be32(p + 4);
  // The CRC comes first: a length read from a corrupted prelude means nothing.
  if (crc32_update(0, p, 8) != be32(p + 8)) return make_error_code(event_stream_errc::prelude_crc_mismatch);
  if (total < min_frame) return make_error_code(event_stream_errc::message_too_short);
  if (total > limits.max_message_bytes) return make_error_code(event_stream_errc::message_too_long);
  if (headers_len > limits.max_headers_bytes) return make_error_code(event_stream_errc::headers_too_long);
  if (headers_len > total - min_frame) return make_error_code(event_stream_errc::invalid_headers_length);
  return {};
}

std::error_code parse_headers(const unsigned char* p, const unsigned char* const end,
                              std::vector<event_stream_header>& out) {
  const auto need = [&](std::size_t n) { return static_cast<std::size_t>(end - p) >= n; };
  while (p != end) {
    const std::size_t name_len = *p++;
    if (!need(name_len + 1)) return make_error_code(event_stream_errc::header_truncated);
    event_stream_header h;
    h.name.assign(reinterpret_cast<const char*>(p), name_len);
    p += name_len;
    const auto type = *p++;
    switch (static_cast<header_type>(type)) {
      case header_type::bool_true: h.value = true; break;
      case header_type::bool_false: h.value = false; break;
      case header_type::byte:
        if (!need(1)) return make_error_code(event_stream_errc::header_truncated);
        h.value = static_cast<std::int8_t>(*p);
        p += 1;
        break;
      case header_type::int16:
        if (!need(2)) return make_error_code(event_stream_errc::header_truncated);
        h.value = static_cast<std::int16_t>(std::uint16_t{p[0]} << 8 | p[1]);
        p += 2;
        break;
      case header_type::int32:
        if (!need(4)) return make_error_code(event_stream_errc::header_truncated);
        h.value = static_cast<std::int32_t>(be32(p));
        p += 4;
        break;
      case header_type::int64:
      case header_type::timestamp: {
        if (!need(8)) return make_error_code(event_stream_errc::header_truncated);
        const auto v = static_cast<std::int64_t>(be64(p));
        if (type == static_cast<std::uint8_t>(header_type::int64)) h.value = v;
        else h.value = timestamp{v};
        p += 8;
        break;
      }
      case header_type::byte_array:
      case header_type::string: {
        if (!need(2)) return make_error_code(event_stream_errc::header_truncated);
        const std::size_t len = std::size_t{p[0]} << 8 | p[1];
        p += 2;
        if (!need(len)) return make_error_code(event_stream_errc::header_truncated);
        std::string bytes(reinterpret_cast<const char*>(p), len);
        p += len;
        if (type == static_cast<std::uint8_t>(header_type::string)) h.value = std::move(bytes);
        else h.value = byte_array{std::move(bytes)};
        break;
      }
      case header_type::uuid: {
        if (!need(16)) return make_error_code(event_stream_errc::header_truncated);
        uuid u;
        std::memcpy(u.data(), p, u.size());
        h.value = u;
        p += 16;
        break;
      }
      default: return make_error_code(event_stream_errc::invalid_header_type);
    }
    out.push_back(std::move(h));
  }
  return {};
}

// Decodes a frame whose prelude is already known to be valid and whose size is its total length.
std::error_code decode_checked(const unsigned char* p, std::size_t size, event_stream_message& out) {
  if (crc32_update(0, p, size - trailer_size) != be32(p + size - trailer_size))
    return make_error_code(event_stream_errc::message_crc_mismatch);
  const std::size_t headers_len = be32(p + 4);
  const unsigned char* headers = p + prelude_size;
  out.headers.clear();
  if (auto ec = parse_headers(headers, headers + headers_len, out.headers)) return ec;
  const unsigned char* payload = headers + headers_len;
  out.payload.assign(reinterpret_cast<const char*>(payload),
                     size - prelude_size - headers_len - trailer_size);
  return {};
}

std::size_t encoded_size(const header_value& v) {
  switch (type_of(v)) {
    case header_type::bool_true:
    case header_type::bool_false: return 0;
    case header_type::byte: return 1;
    case header_type::int16: return 2;
    case header_type::int32: return 4;
    case header_type::int64:
    case header_type::timestamp: return 8;
    case header_type::byte_array: return 2 + std::get<byte_array>(v).bytes.size();
    case header_type::string: return 2 + std::get<std::string>(v).size();
    case header_type::uuid: return 16;
  }
  return 0;
}

void encode_header(std::string& out, const event_stream_header& h) {
  out.push_back(static_cast<char>(h.name.size()));
  out.append(h.name);
  const header_type type = type_of(h.value);
  out.push_back(static_cast<char>(type));
  switch (type) {
    case header_type::bool_true:
    case header_type::bool_false: break;
    case header_type::byte: out.push_back(static_cast<char>(std::get<std::int8_t>(h.value))); break;
    case header_type::int16:
      put_be(out, static_cast<std::uint16_t>(std::get<std::int16_t>(h.value)), 2);
      break;
    case header_type::int32:
      put_be(out, static_cast<std::uint32_t>(std::get<std::int32_t>(h.value)), 4);
      break;
    case header_type::int64:
      put_be(out, static_cast<std::uint64_t>(std::get<std::int64_t>(h.value)), 8);
      break;
    case header_type::timestamp:
      put_be(out, static_cast<std::uint64_t>(std::get<timestamp>(h.value).millis), 8);
      break;
    case header_type::byte_array: {
      const auto& b = std::get<byte_array>(h.value).bytes;
      put_be(out, b.size(), 2);
      out.append(b);
      break;
    }
    case header_type::string: {
      const auto& s = std::get<std::string>(h.value);
      put_be(out, s.size(), 2);
      out.append(s);
      break;
    }
    case header_type::uuid: {
      const auto& u = std::get<uuid>(h.value);
      out.append(reinterpret_cast<const char*>(u.data()), u.size());
      break;
    }
  }
}

}  // namespace

const std::error_category& event_stream_category() noexcept {
  static const event_stream_category_impl category;
  return category;
}

header_type type_of(const header_value& value) noexcept {
  switch (value.index()) {
    case 0: return std::get<bool>(value) ? header_type::bool_true : header_type::bool_false;
    case 1: return header_type::byte;
    case 2: return header_type::int16;
    case 3: return header_type::int32;
    case 4: return header_type::int64;
    case 5: return header_type::byte_array;
    case 6: return header_type::string;
    case 7: return header_type::timestamp;
    default: return header_type::uuid;
  }
}

const header_value* event_stream_message::find(std::string_view name) const noexcept {
  for (const auto& h : headers)
    if (h.name == name) return &h.value;
  return nullptr;
}

std::optional<std::string_view> event_stream_message::string_header(std::string_view name) const noexcept {
  const header_value* v = find(name);
  if (v == nullptr) return std::nullopt;
  if (const auto* s = std::get_if<std::string>(v)) return std::string_view{*s};
  return std::nullopt;
}

message_type message_type_of(const event_stream_message& m) noexcept {
  const auto t = m.string_header(":message-type");
  if (!t) return message_type::unknown;
  if (*t == "event") return message_type::event;
  if (*t == "exception") return message_type::exception;
  if (*t == "error") return message_type::error;
  return message_type::unknown;
}

std::optional<std::string_view> event_type_of(const event_stream_message& m) noexcept {
  return m.string_header(":event-type");
}

std::optional<std::string_view> exception_type_of(const event_stream_message& m) noexcept {
  return m.string_header(":exception-type");
}

std::optional<std::string_view> error_code_of(const event_stream_message& m) noexcept {
  return m.string_header(":error-code");
}

std::optional<std::string_view> error_message_of(const event_stream_message& m) noexcept {
  return m.string_header(":error-message");
}

std::error_code event_stream_decoder::check_prelude(const unsigned char* prelude) {
  std::uint32_t total = 0;
  if (auto ec = check_prelude_bytes(prelude, limits_, total)) return ec;
  expected_ = total;
  return {};
}

std::error_code event_stream_decoder::feed(std::string_view chunk,
                                           std::vector<event_stream_message>& out) {
  if (error_) return error_;
  while (!chunk.empty()) {
    if (expected_ == 0) {
      const unsigned char* prelude;
      if (buffer_.empty() && chunk.size() >= prelude_size) {
        prelude = reinterpret_cast<const unsigned char*>(chunk.data());
      } else {
        const std::size_t take = std::min(prelude_size - buffer_.size(), chunk.size());
        buffer_.append(chunk.data(), take);
        chunk.remove_prefix(take);
        if (buffer_.size() < prelude_size) return {};
        prelude = reinterpret_cast<const unsigned char*>(buffer_.data());
      }
      if (auto ec = check_prelude(prelude)) return error_ = ec;
    }
    // Whole frames inside the chunk are decoded in place, without a copy into buffer_.
    if (buffer_.empty() && chunk.size() >= expected_) {
      event_stream_message m;
      if (auto ec = decode_checked(reinterpret_cast<const unsigned char*>(chunk.data()), expected_, m))
        return error_ = ec;
      out.push_back(std::move(m));
      chunk.remove_prefix(expected_);
      expected_ = 0;
      continue;
    }
    if (buffer_.capacity() < expected_) buffer_.reserve(expected_);
    const std::size_t take = std::min<std::size_t>(expected_ - buffer_.size(), chunk.size());
    buffer_.append(chunk.data(), take);
    chunk.remove_prefix(take);
    if (buffer_.size() == expected_) {
      event_stream_message m;
      if (auto ec = decode_checked(reinterpret_cast<const unsigned char*>(buffer_.data()), expected_, m))
        return error_ = ec;
      out.push_back(std::move(m));
      buffer_.clear();
      expected_ = 0;
    }
  }
  return {};
}

std::error_code event_stream_decoder::finish() const noexcept {
  if (error_) return error_;
  if (!buffer_.empty()) return make_error_code(event_stream_errc::truncated_message);
  return {};
}

std::error_code decode_message(std::string_view frame, event_stream_message& out,
                               event_stream_limits limits) {
  const auto* p = reinterpret_cast<const unsigned char*>(frame.data());
  if (frame.size() < prelude_size) return make_error_code(event_stream_errc::length_mismatch);
  std::uint32_t total = 0;
  if (auto ec = check_prelude_bytes(p, limits, total)) return ec;
  if (total != frame.size()) return make_error_code(event_stream_errc::length_mismatch);
  return decode_checked(p, frame.size(), out);
}

std::string encode_message(const event_stream_message& m) {
  std::size_t headers_len = 0;
  for (const auto& h : m.headers) {
    if (h.name.size() > std::numeric_limits<std::uint8_t>::max())
      throw std::length_error("event stream header name longer than 255 bytes");
    if (const auto* s = std::get_if<std::string>(&h.value); s && s->size() > 32767)
      throw std::length_error("event stream string header longer than 32767 bytes");
    if (const auto* b = std::get_if<byte_array>(&h.value); b && b->bytes.size() > 32767)
      throw std::length_error("event stream byte array header longer than 32767 bytes");
    headers_len += 1 + h.name.size() + 1 + encoded_size(h.value);
  }
  const std::size_t total = min_frame + headers_len + m.payload.size();
  if (total > static_cast<std::size_t>(std::numeric_limits<std::int32_t>::max()))
    throw std::length_error("event stream frame longer than 2^31 bytes");

  std::string out;
  out.reserve(total);
  put_be(out, total, 4);
  put_be(out, headers_len, 4);
  put_be(out, crc32_update(0, out.data(), 8), 4);
  for (const auto& h : m.headers) encode_header(out, h);
  out.append(m.payload);
  put_be(out, crc32_update(0, out.data(), out.size()), 4);
  return out;
}

}  // namespace sg::provider::aws
