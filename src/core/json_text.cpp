// JSON string literals: runs of plain bytes copied whole, found sixteen bytes at a time.
#include "core/json_text.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace sg::core {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0 if it is not valid (RFC 3629).
std::size_t utf8_sequence(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  auto cont = [&](std::size_t k) {
    return i + k < s.size() && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c == 0xE0 && c1 < 0xA0) return 0;  // overlong
    if (c == 0xED && c1 > 0x9F) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    auto c1 = static_cast<unsigned char>(s[i + 1]);
    if (c == 0xF0 && c1 < 0x90) return 0;
    if (c == 0xF4 && c1 > 0x8F) return 0;
    return 4;
  }
  return 0;
}

// How many bytes at the start of `s` append_json_string copies as they are: printable ASCII other
// than '"' and '\\'. Sixteen bytes at a time where SSE2 is there (every x86-64): an answer's text
// is mostly such bytes, and a stream's complete event carries all of it.
std::size_t plain_prefix(std::string_view s) {
  std::size_t i = 0;
#if defined(__SSE2__)
  const __m128i space = _mm_set1_epi8(0x20), quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');
  for (; s.size() - i >= 16; i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(s.data() + i));
    // A signed comparison: bytes of 0x80 and above are negative, so "below 0x20" catches them too.
    const __m128i special =
        _mm_or_si128(_mm_cmplt_epi8(v, space), _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));
    if (const int hits = _mm_movemask_epi8(special); hits != 0)
      return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(hits)));
  }
#endif
  for (; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') break;
  }
  return i;
}

}  // namespace

bool json_plain(std::string_view s) { return plain_prefix(s) == s.size(); }

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  // Copy runs of bytes that need no escaping in one append; only the exceptions go byte by byte.
  std::size_t run = 0, i = 0;
  auto flush = [&] {
    if (i > run) out.append(s.data() + run, i - run);
  };
  while (i < s.size()) {
    i += plain_prefix(s.substr(i));
    if (i == s.size()) break;
    auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      std::size_t n = utf8_sequence(s, i);
      if (n != 0) {
        i += n;  // valid UTF-8 stays in the run
        continue;
      }
      flush();
      out += "\xEF\xBF\xBD";
      run = ++i;
      continue;
    }
    flush();
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    run = ++i;
  }
  flush();
  out += '"';
}

}  // namespace sg::core
