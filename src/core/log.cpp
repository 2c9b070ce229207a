// JSON log lines written with a single write(2) so lines from threads never interleave.
#include "core/log.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <unistd.h>

#include <atomic>
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

std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms));
  return buf;
}
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
  boost::json::object o;
  o["ts"] = timestamp();
  o["level"] = level_name(level);
  o["msg"] = msg;
  for (auto& f : fields) o[f.key] = f.is_text ? boost::json::value(boost::json::string_view(f.text.data(), f.text.size())) : f.value;
  std::string line = boost::json::serialize(o);
  line += '\n';
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
