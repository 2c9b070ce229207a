// Sans-I/O pieces of the load generator: WebSocket frames, HTTP/1.1 response bodies, event field scans.
#pragma once

#include <charconv>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace sg::tools {

/// One WebSocket frame parsed from the front of a buffer.
struct ws_frame {
  bool fin = true;
  std::uint8_t opcode = 0;  // 1 text, 2 binary, 0 continuation, 8 close, 9 ping, 10 pong
  std::string_view payload;
  std::size_t consumed = 0;  // bytes of header and payload
};

/// Parses the frame at the front of `buf`; nullopt when `buf` does not hold a whole one yet.
/// A masked frame (a server never sends one) is unmasked in place, hence the mutable buffer.
inline std::optional<ws_frame> parse_ws_frame(char* buf, std::size_t n) {
  if (n < 2) return std::nullopt;
  auto b0 = static_cast<std::uint8_t>(buf[0]), b1 = static_cast<std::uint8_t>(buf[1]);
  ws_frame f;
  f.fin = (b0 & 0x80) != 0;
  f.opcode = b0 & 0x0F;
  bool masked = (b1 & 0x80) != 0;
  std::uint64_t len = b1 & 0x7F;
  std::size_t pos = 2;
  if (len == 126) {
    if (n < 4) return std::nullopt;
    len = (std::uint64_t{static_cast<std::uint8_t>(buf[2])} << 8) | static_cast<std::uint8_t>(buf[3]);
    pos = 4;
  } else if (len == 127) {
    if (n < 10) return std::nullopt;
    len = 0;
    for (int i = 0; i < 8; ++i) len = (len << 8) | static_cast<std::uint8_t>(buf[2 + i]);
    pos = 10;
  }
  std::size_t key_pos = pos;
  if (masked) pos += 4;
  if (n < pos || n - pos < len) return std::nullopt;
  if (masked)
    for (std::uint64_t i = 0; i < len; ++i) buf[pos + i] = static_cast<char>(buf[pos + i] ^ buf[key_pos + (i & 3)]);
  f.payload = std::string_view(buf + pos, static_cast<std::size_t>(len));
  f.consumed = pos + static_cast<std::size_t>(len);
  return f;
}

/// A masked client frame (RFC 6455 requires clients to mask) with FIN set.
inline std::string make_ws_frame(std::uint8_t opcode, std::string_view payload, std::uint32_t mask_key) {
  std::string out;
  out.reserve(payload.size() + 14);
  out += static_cast<char>(0x80 | opcode);
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else if (payload.size() < 65536) {
    out += static_cast<char>(0x80 | 126);
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xFF);
  } else {
    out += static_cast<char>(0x80 | 127);
    for (int i = 7; i >= 0; --i) out += static_cast<char>((static_cast<std::uint64_t>(payload.size()) >> (8 * i)) & 0xFF);
  }
  char key[4];
  std::memcpy(key, &mask_key, 4);
  out.append(key, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out += static_cast<char>(payload[i] ^ key[i & 3]);
  return out;
}

// Compact JSON (streamgate's writer, JSON.stringify) cannot hold the bytes `"key":` inside a
// string literal, since every quote in one is escaped: a substring search finds the top-level
// field without parsing the document, which keeps the generator far cheaper than the server.

/// The string value of `"key":"…"` (escapes left as they are), or empty.
inline std::string_view json_str(std::string_view json, std::string_view key) {
  char pat[40];
  if (key.size() + 4 > sizeof pat) return {};
  std::size_t n = 0;
  pat[n++] = '"';
  std::memcpy(pat + n, key.data(), key.size());
  n += key.size();
  pat[n++] = '"';
  pat[n++] = ':';
  pat[n++] = '"';
  auto at = json.find(std::string_view(pat, n));
  if (at == std::string_view::npos) return {};
  auto start = at + n;
  for (auto i = start; i < json.size(); ++i) {
    if (json[i] == '\\') {
      ++i;
      continue;
    }
    if (json[i] == '"') return json.substr(start, i - start);
  }
  return {};
}

/// The integer value of `"key":N`, or `fallback`.
inline std::int64_t json_int(std::string_view json, std::string_view key, std::int64_t fallback = 0) {
  char pat[40];
  if (key.size() + 3 > sizeof pat) return fallback;
  std::size_t n = 0;
  pat[n++] = '"';
  std::memcpy(pat + n, key.data(), key.size());
  n += key.size();
  pat[n++] = '"';
  pat[n++] = ':';
  auto at = json.find(std::string_view(pat, n));
  if (at == std::string_view::npos) return fallback;
  std::int64_t v = fallback;
  auto p = json.data() + at + n;
  auto r = std::from_chars(p, json.data() + json.size(), v);
  return r.ec == std::errc{} ? v : fallback;
}

/// Reads HTTP/1.1 responses off a keep-alive connection: headers, then a chunked or
/// Content-Length body handed out as it arrives. Feed bytes; it calls the handler's
/// on_status(code), on_body(bytes) and on_end() in order, response after response.
template <class Handler>
class http_response_reader {
 public:
  explicit http_response_reader(Handler& h) : h_(h) {}

  /// Forgets a response cut short (the connection was dropped).
  void reset() {
    state_ = state::headers;
    head_.clear();
    line_.clear();
    remaining_ = 0;
  }

  /// Consumes `data`; returns false on a malformed response (the connection is then useless).
  bool feed(std::string_view data) {
    while (!data.empty()) {
      switch (state_) {
        case state::headers: {
          std::size_t before = head_.size();
          head_.append(data.data(), data.size());
          auto end = head_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
          if (end == std::string::npos) return head_.size() <= 16384;
          std::size_t used = end + 4 - before;  // the bytes of `data` that belonged to the head
          head_.resize(end + 4);
          if (!on_head()) return false;
          head_.clear();
          data.remove_prefix(used);
          break;
        }
        case state::length_body: {
          auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
          if (take) h_.on_body(data.substr(0, take));
          data.remove_prefix(take);
          remaining_ -= take;
          if (remaining_ == 0) end_response();
          break;
        }
        case state::chunk_size: {
          auto nl = data.find('\n');
          if (nl == std::string_view::npos) {
            line_.append(data.data(), data.size());
            if (line_.size() > 1024) return false;
            return true;
          }
          line_.append(data.data(), nl + 1);
          data.remove_prefix(nl + 1);
          std::uint64_t size = 0;
          auto r = std::from_chars(line_.data(), line_.data() + line_.size(), size, 16);
          if (r.ec != std::errc{}) return false;
          line_.clear();
          remaining_ = size;
          state_ = size == 0 ? state::trailer : state::chunk_data;
          break;
        }
        case state::chunk_data: {
          auto take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, data.size()));
          h_.on_body(data.substr(0, take));
          data.remove_prefix(take);
          remaining_ -= take;
          if (remaining_ == 0) {
            state_ = state::chunk_crlf;
            crlf_left_ = 2;
          }
          break;
        }
        case state::chunk_crlf: {
          while (crlf_left_ > 0 && !data.empty()) {
            data.remove_prefix(1);
            --crlf_left_;
          }
          if (crlf_left_ == 0) state_ = state::chunk_size;
          break;
        }
        case state::trailer: {
          // Trailer lines end at an empty line; streamgate sends none, so this is just "\r\n".
          auto nl = data.find('\n');
          if (nl == std::string_view::npos) {
            line_.append(data.data(), data.size());
            return true;
          }
          line_.append(data.data(), nl + 1);
          data.remove_prefix(nl + 1);
          bool empty = line_ == "\r\n" || line_ == "\n";
          line_.clear();
          if (empty) end_response();
          break;
        }
      }
    }
    return true;
  }

 private:
  enum class state { headers, length_body, chunk_size, chunk_data, chunk_crlf, trailer };

  bool on_head() {
    // "HTTP/1.1 200 OK"
    if (head_.size() < 12 || head_.compare(0, 5, "HTTP/") != 0) return false;
    int status = 0;
    std::from_chars(head_.data() + 9, head_.data() + 12, status);
    h_.on_status(status);
    std::string lower;
    lower.reserve(head_.size());
    for (char c : head_) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower.find("\r\ntransfer-encoding: chunked") != std::string::npos) {
      state_ = state::chunk_size;
      return true;
    }
    auto cl = lower.find("\r\ncontent-length:");
    remaining_ = 0;
    if (cl != std::string::npos) {
      auto p = lower.data() + cl + 17;
      while (*p == ' ') ++p;
      std::from_chars(p, lower.data() + lower.size(), remaining_);
    }
    if (remaining_ == 0) {
      end_response();
      return true;
    }
    state_ = state::length_body;
    return true;
  }

  void end_response() {
    state_ = state::headers;
    h_.on_end();
  }

  Handler& h_;
  state state_ = state::headers;
  std::string head_, line_;
  std::uint64_t remaining_ = 0;
  int crlf_left_ = 0;
};

/// The fake upstream's first token carries "@<µs>|<µs>": its request's arrival and its first write.
/// Returns the second less the first from the text of an answer seen so far; nullopt until both
/// numbers are whole (followed by something other than a digit), so a number cut by a read is not
/// taken for a shorter one.
inline std::optional<std::int64_t> stamp_span_us(std::string_view seen) {
  for (auto at = seen.find('@'); at != std::string_view::npos; at = seen.find('@', at + 1)) {
    const char* end = seen.data() + seen.size();
    std::int64_t a = 0, b = 0;
    auto r1 = std::from_chars(seen.data() + at + 1, end, a);
    if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '|') continue;
    auto r2 = std::from_chars(r1.ptr + 1, end, b);
    if (r2.ec == std::errc() && r2.ptr < end) return b - a;
  }
  return std::nullopt;
}

}  // namespace sg::tools
