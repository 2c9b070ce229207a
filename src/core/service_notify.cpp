// sd_notify through libsystemd; a no-op build when libsystemd was not found.
#include "core/service_notify.hpp"

#include <string>

#ifdef SG_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace sg::core {

void service_notify(std::string_view state) {
#ifdef SG_HAVE_SYSTEMD
  // unset_environment = 0: the watchdog pings and the STOPPING=1 at drain need the socket later.
  sd_notify(0, std::string(state).c_str());
#else
  (void)state;
#endif
}

std::optional<std::chrono::microseconds> watchdog_ping_interval() {
#ifdef SG_HAVE_SYSTEMD
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) return std::chrono::microseconds(usec / 2);
#endif
  return std::nullopt;
}

}  // namespace sg::core
