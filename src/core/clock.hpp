// Wall-clock helpers: milliseconds and microseconds since the Unix epoch.
#pragma once

#include <chrono>
#include <cstdint>

namespace sg::core {

inline std::int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

inline std::int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace sg::core
