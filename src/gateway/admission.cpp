// Admission at accept: one atomic count for the server, token buckets and counts per address.
#include "gateway/admission.hpp"

#include <sys/resource.h>

#include <algorithm>

namespace sg::gateway {

unsigned effective_max_connections(const core::config& cfg) {
  if (cfg.max_connections) return cfg.max_connections;
  // Descriptors the process needs besides client sockets: listener, SQLite, upstream pools, logs.
  constexpr rlim_t reserve = 256;
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) != 0 || r.rlim_cur == RLIM_INFINITY) return 1'000'000;
  return static_cast<unsigned>(std::max<rlim_t>(r.rlim_cur, 2 * reserve) - reserve);
}

admission admit(app& a, const std::string& ip, bool per_address) {
  admission out;
  auto open = a.stats.open_sockets.fetch_add(1, std::memory_order_relaxed) + 1;
  auto* ap = &a;
  std::shared_ptr<void> socket_slot(nullptr, [ap](void*) { ap->stats.open_sockets.fetch_sub(1, std::memory_order_relaxed); });
  if (open > static_cast<std::int64_t>(a.max_connections)) {
    a.stats.capacity_refusals.fetch_add(1, std::memory_order_relaxed);
    out.at_capacity = true;
    out.refusal = proto::error_info{proto::error_code::unavailable, "the server is at its connection limit", true, 1000, {}};
    return out;
  }
  if (!per_address) {
    out.slot = std::move(socket_slot);
    return out;
  }
  if (auto wait = a.connection_rate.take(ip)) {
    a.stats.rate_limited_connections.fetch_add(1, std::memory_order_relaxed);
    out.refusal = proto::error_info{proto::error_code::rate_limited, "too many new connections from " + ip, true, wait, {}};
    out.slot = std::move(socket_slot);  // the refused socket still holds a descriptor until it closes
    return out;
  }
  if (!a.connections_per_ip.try_acquire(ip)) {
    a.stats.rate_limited_connections.fetch_add(1, std::memory_order_relaxed);
    out.refusal = proto::error_info{proto::error_code::rate_limited, "too many connections from " + ip, true, 1000, {}};
    out.slot = std::move(socket_slot);
    return out;
  }
  out.slot = std::shared_ptr<void>(nullptr, [ap, ip, socket_slot](void*) { ap->connections_per_ip.release(ip); });
  return out;
}

}  // namespace sg::gateway
