// The service manager's notification protocol (sd_notify): readiness, reload, stop and watchdog.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace sg::core {

/// Sends one state line ("READY=1", "WATCHDOG=1", …) to $NOTIFY_SOCKET; any thread. Without a
/// service manager (NOTIFY_SOCKET unset) or without libsystemd at build time it does nothing.
void service_notify(std::string_view state);

/// How often to ping the watchdog: half of WATCHDOG_USEC when the service manager asks for one
/// (and WATCHDOG_PID, if set, names this process); otherwise nothing.
std::optional<std::chrono::microseconds> watchdog_ping_interval();

}  // namespace sg::core
