// Whether a new TCP connection may be served: checked at accept, before any byte is read or a TLS
// handshake is spent on it.
#pragma once

#include "gateway/app.hpp"
#include "proto/event.hpp"

#include <memory>
#include <optional>
#include <string>

namespace sg::gateway {

/// What a connection holds against the connection limits for its life: its place under the server's
/// socket cap, and its counts per address and per user once taken. One object however many limits
/// it counts against (a WebSocket holds it as long as it is open); released by the last holder.
class connection_slot {
 public:
  /// Owns a place under the socket cap, already counted in open_sockets by the caller.
  explicit connection_slot(app& a);
  connection_slot(const connection_slot&) = delete;
  connection_slot& operator=(const connection_slot&) = delete;
  ~connection_slot();
  /// Counts the connection against the per-address limit under `key`; false (nothing taken) when full.
  bool take_address(const std::string& key);
  /// Counts the connection against the per-user limit under `sub`; false (nothing taken) when full.
  bool take_user(const std::string& sub);

 private:
  app* a_;
  std::string address_key_;  // empty: not counted per address
  std::string user_key_;     // empty: not counted per user
};

struct admission {
  /// Held for the life of the connection (HTTP, SSE or WebSocket); releases its counts when dropped.
  std::shared_ptr<connection_slot> slot;
  /// Set when the connection is refused: what to answer before closing it.
  std::optional<proto::error_info> refusal;
  /// Refused because the whole server is at --max-connections: close at once, answer nothing.
  bool at_capacity = false;
};

/// Applies the global socket cap, the new-connection rate per address and the concurrent
/// connections per address to a connection from `ip` (a per-address limit key: see
/// core::names_of). With `per_address` false (the peer is a trusted proxy, whose clients
/// are known only from their requests) only the global cap applies here. Thread-safe.
admission admit(app& a, const std::string& ip, bool per_address = true);

/// The socket cap in force: --max-connections, or the descriptor limit less a reserve for the
/// listener, the store, upstream requests and logs.
unsigned effective_max_connections(const core::config& cfg);

}  // namespace sg::gateway
