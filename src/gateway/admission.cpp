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

connection_slot::connection_slot(app& a) : a_(&a) {}

connection_slot::~connection_slot() {
  if (!user_key_.empty()) a_->connections_per_user.release(user_key_);
  if (!address_key_.empty()) a_->connections_per_ip.release(address_key_);
  a_->stats.open_sockets.fetch_sub(1, std::memory_order_relaxed);
}

bool connection_slot::take_address(const std::string& key) {
  if (!address_key_.empty() || key.empty()) return true;
  if (!a_->connections_per_ip.try_acquire(key)) return false;
  address_key_ = key;
  return true;
}

bool connection_slot::take_user(const std::string& sub) {
  if (!user_key_.empty() || sub.empty()) return true;
  if (!a_->connections_per_user.try_acquire(sub)) return false;
  user_key_ = sub;
  return true;
}

admission admit(app& a, const std::string& ip, bool per_address) {
  admission out;
  auto open = a.stats.open_sockets.fetch_add(1, std::memory_order_relaxed) + 1;
  auto slot = std::make_shared<connection_slot>(a);  // gives the place back when the last holder lets go
  if (open > static_cast<std::int64_t>(a.max_connections)) {
    a.stats.capacity_refusals.fetch_add(1, std::memory_order_relaxed);
    out.at_capacity = true;
    out.refusal = proto::error_info{proto::error_code::unavailable, "the server is at its connection limit", true, 1000, {}};
    return out;
  }
  // A refused socket still holds a descriptor until it closes: it keeps its place under the cap.
  out.slot = std::move(slot);
  if (!per_address) return out;
  if (auto wait = a.connection_rate.take(ip)) {
    a.stats.rate_limited_connections.fetch_add(1, std::memory_order_relaxed);
    out.refusal = proto::error_info{proto::error_code::rate_limited, "too many new connections from " + ip, true, wait, {}};
    return out;
  }
  if (!out.slot->take_address(ip)) {
    a.stats.rate_limited_connections.fetch_add(1, std::memory_order_relaxed);
    out.refusal = proto::error_info{proto::error_code::rate_limited, "too many connections from " + ip, true, 1000, {}};
    return out;
  }
  return out;
}

}  // namespace sg::gateway
