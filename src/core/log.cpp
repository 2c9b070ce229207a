// JSON log lines written with a single write(2) so lines from threads never interleave. A line is
// written straight into one string, its strings escaped as events' are; the date and time to the
// second are formatted once a second per thread.
#include "core/log.hpp"

#include "core/json_text.hpp"

#include <boost/json/serialize.hpp>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <chrono>
#include <ctime>
#include <stdexcept>

namespace sg::core {
namespace {
std::atomic<int> g_level{static_cast<int>(log_level::info)};

const char* level_name(log_level l) {
  switch (l) {
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
  }
  return "info";
}

// Appends the UTC time as 2026-12-07T05:45:49.071Z. The part to the second is kept per thread
// and made again only when the second changes (gmtime_r and strftime cost about 1,800
// instructions, more than half of what the rest of a line costs).
void append_timestamp(std::string& out) {
  using namespace std::chrono;
  thread_local std::time_t cached_second = -1;
  thread_local char cached[24];
  thread_local std::size_t cached_size = 0;
  const auto ms = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
  const std::time_t second = static_cast<std::time_t>(ms / 1000);
  if (second != cached_second) {
    std::tm tm{};
    gmtime_r(&second, &tm);
    cached_size = std::strftime(cached, sizeof cached, "%Y-%m-%dT%H:%M:%S", &tm);
    cached_second = second;
  }
  const int milli = static_cast<int>(ms % 1000);
  const char tail[] = {'.', static_cast<char>('0' + milli / 100), static_cast<char>('0' + milli / 10 % 10),
                       static_cast<char>('0' + milli % 10), 'Z'};
  out.append(cached, cached_size);
  out.append(tail, sizeof tail);
}

template <class Int>
void append_integer(std::string& out, Int v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_value(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::int64: append_integer(out, v.get_int64()); return;
    case boost::json::kind::uint64: append_integer(out, v.get_uint64()); return;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; return;
    case boost::json::kind::null: out += "null"; return;
    case boost::json::kind::string: {
      const auto& s = v.get_string();
      append_json_string(out, std::string_view(s.data(), s.size()));
      return;
    }
    default: out += boost::json::serialize(v); return;  // a number with a fraction, an object, an array
  }
}

// Room for a usual line (the longest, `stream end`, is about 270 bytes), so it is allocated once.
// Not a thread_local buffer kept between lines: a line logged while a thread's or the process's
// objects are being destroyed could find that buffer already gone.
constexpr std::size_t usual_line_bytes = 384;
}  // namespace

void set_log_level(log_level level) { g_level.store(static_cast<int>(level)); }

log_level parse_log_level(std::string_view text) {
  if (text == "debug") return log_level::debug;
  if (text == "info") return log_level::info;
  if (text == "warn" || text == "warning") return log_level::warn;
  if (text == "error") return log_level::error;
  throw std::invalid_argument("log level must be debug, info, warn or error");
}

bool log_enabled(log_level level) { return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed); }

void log(log_level level, std::string_view msg, std::initializer_list<log_field> fields) {
  if (!log_enabled(level)) return;
  std::string line;
  line.reserve(usual_line_bytes);
  line += "{\"ts\":\"";
  append_timestamp(line);
  line += "\",\"level\":\"";
  line += level_name(level);
  line += "\",\"msg\":";
  append_json_string(line, msg);
  for (auto& f : fields) {
    line += ',';
    append_json_string(line, f.key);
    line += ':';
    if (f.is_text)
      append_json_string(line, f.text);
    else
      append_value(line, f.value);
  }
  line += "}\n";
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t w = ::write(STDERR_FILENO, p, left);
    if (w <= 0) break;
    p += w;
    left -= static_cast<std::size_t>(w);
  }
}

}  // namespace sg::core
