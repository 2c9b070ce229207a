// WHATWG event-stream interpretation, fed in arbitrary chunks.
#include "provider/parse/sse_parser.hpp"

#include "provider/parse/parse_error.hpp"

#include <cstring>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include <limits>
#include <utility>

namespace sg::provider {
namespace {

constexpr char utf8_bom[3] = {'\xEF', '\xBB', '\xBF'};

// Finds the next CR or LF. A `data` line is usually a JSON event of a few hundred bytes, so the
// scan compares 16 bytes at a time (SSE2, which every x86-64 has), then a word at a time elsewhere.
const char* find_eol(const char* p, const char* end) noexcept {
#if defined(__SSE2__)
  const __m128i lf16 = _mm_set1_epi8('\n');
  const __m128i cr16 = _mm_set1_epi8('\r');
  while (end - p >= 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const int hits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, lf16), _mm_cmpeq_epi8(v, cr16)));
    if (hits != 0) return p + __builtin_ctz(static_cast<unsigned>(hits));
    p += 16;
  }
#endif
  constexpr std::uint64_t ones = 0x0101010101010101ull;
  constexpr std::uint64_t highs = 0x8080808080808080ull;
  while (end - p >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    const std::uint64_t lf = w ^ (ones * '\n');
    const std::uint64_t cr = w ^ (ones * '\r');
    // Classic "has zero byte" test on each comparison; exact enough to decide whether to look.
    if (((lf - ones) & ~lf & highs) | ((cr - ones) & ~cr & highs)) break;
    p += 8;
  }
  while (p != end && *p != '\n' && *p != '\r') ++p;
  return p;
}

bool all_ascii_digits(std::string_view s) noexcept {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

}  // namespace

sse_parser::sse_parser(event_handler on_event, sse_limits limits)
    : on_event_(std::move(on_event)), limits_(limits) {}

std::error_code sse_parser::feed(std::string_view chunk) {
  if (error_) return error_;
  const char* p = chunk.data();
  const char* const end = p + chunk.size();
  // The BOM may itself arrive split, so match it byte by byte before anything else.
  while (at_stream_start_ && p != end) {
    if (*p != utf8_bom[bom_matched_]) {
      at_stream_start_ = false;
      // A partial BOM was ordinary content after all: replay the bytes held back.
      if (bom_matched_ > 0) process(utf8_bom, utf8_bom + bom_matched_);
      bom_matched_ = 0;
      break;
    }
    ++p;
    if (++bom_matched_ == sizeof utf8_bom) {
      at_stream_start_ = false;
      bom_matched_ = 0;
    }
  }
  if (!error_) process(p, end);
  return error_;
}

void sse_parser::process(const char* p, const char* const end) {
  if (skip_lf_ && p != end) {
    if (*p == '\n') ++p;
    skip_lf_ = false;
  }
  while (p != end && !error_) {
    const char* eol = find_eol(p, end);
    const auto piece = static_cast<std::size_t>(eol - p);
    if (line_.size() + piece > limits_.max_line_bytes) {
      error_ = make_error_code(parse_errc::line_too_long);
      return;
    }
    if (eol == end) {
      line_.append(p, piece);
      return;
    }
    if (line_.empty()) {
      process_line({p, piece});
    } else {
      line_.append(p, piece);
      process_line(line_);
      line_.clear();
    }
    if (*eol == '\r') {
      if (eol + 1 == end) {
        skip_lf_ = true;  // CR LF may be split across chunks: swallow the LF when it comes
        return;
      }
      p = eol[1] == '\n' ? eol + 2 : eol + 1;
    } else {
      p = eol + 1;
    }
  }
}

void sse_parser::process_line(std::string_view line) {
  if (line.empty()) {
    dispatch();
    return;
  }
  if (line.front() == ':') return;  // comment, often a keep-alive
  const auto colon = line.find(':');
  if (colon == std::string_view::npos) {
    process_field(line, {});
    return;
  }
  std::string_view value = line.substr(colon + 1);
  if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  process_field(line.substr(0, colon), value);
}

void sse_parser::process_field(std::string_view field, std::string_view value) {
  if (field == "data") {
    if (data_.size() + value.size() + 1 > limits_.max_event_bytes) {
      error_ = make_error_code(parse_errc::event_too_large);
      return;
    }
    data_.append(value);
    data_.push_back('\n');
  } else if (field == "event") {
    event_type_.assign(value);
  } else if (field == "id") {
    // An ID with NUL could not be sent back in a Last-Event-ID header.
    if (value.find('\0') == std::string_view::npos) id_buffer_.assign(value);
  } else if (field == "retry") {
    if (!all_ascii_digits(value)) return;
    std::uint64_t ms = 0;
    for (char c : value) {
      const auto digit = static_cast<std::uint64_t>(c - '0');
      if (ms > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) {
        ms = std::numeric_limits<std::uint64_t>::max();  // saturate: "a very long time"
        break;
      }
      ms = ms * 10 + digit;
    }
    retry_ms_ = ms;
  }
  // Any other field name is ignored, as the standard requires.
}

void sse_parser::dispatch() {
  last_event_id_ = id_buffer_;
  if (data_.empty()) {
    event_type_.clear();
    return;
  }
  data_.pop_back();  // the '\n' after the last data line is not part of the data
  const sse_event event{event_type_.empty() ? std::string_view{"message"} : std::string_view{event_type_},
                        data_, last_event_id_};
  on_event_(event);
  data_.clear();
  event_type_.clear();
}

bool sse_parser::finish() {
  const bool dropped = !line_.empty() || !data_.empty() || !event_type_.empty() ||
                       id_buffer_ != last_event_id_ || bom_matched_ > 0;
  line_.clear();
  data_.clear();
  event_type_.clear();
  // An `id` in an event that never completed must not leak into the next connection.
  id_buffer_ = last_event_id_;
  error_.clear();
  bom_matched_ = 0;
  at_stream_start_ = true;
  skip_lf_ = false;
  return dropped;
}

bool is_event_stream_content_type(std::string_view content_type) noexcept {
  constexpr std::string_view essence = "text/event-stream";
  const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  std::string_view s = content_type.substr(0, content_type.find(';'));
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  if (s.size() != essence.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != essence[i]) return false;
  }
  return true;
}

}  // namespace sg::provider
