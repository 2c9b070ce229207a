// What the gateway asks of the other nodes in cluster mode: connections held elsewhere, and whether
// the shared state (Redis) is reachable. Null in app when the node is alone.
#pragma once

#include "gateway/connection_registry.hpp"
#include "proto/event.hpp"

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace sg::gateway {

/// Implemented by cluster::node. Thread-safe; callbacks may run on any thread.
class cluster_link {
 public:
  virtual ~cluster_link() = default;

  /// A row of the shared connection table.
  struct connection_info {
    std::string node;
    connection_identity identity;
    std::int64_t last_active_ms = 0;
  };
  /// The connection table's row for `id`, wherever it is held; nullopt if none (or Redis is down).
  virtual void find_connection(const std::string& id, std::function<void(std::optional<connection_info>)> done) = 0;
  /// Asks the node holding the connection to send `frame` to it (false: that node is gone).
  virtual void send_to_connection(const connection_info& c, std::string frame, std::function<void(bool)> done) = 0;
  /// Asks the node holding the connection to close it.
  virtual void disconnect_connection(const connection_info& c, std::function<void(bool)> done) = 0;
  /// The connection limits across every node, before a WebSocket upgrade; `done` (on any thread)
  /// gets the refusal, or nullopt (admitted, or Redis unreachable: this node's own limits stand).
  virtual void admit_connection(const std::string& connection_id, const std::string& ip_key,
                                const std::string& user_key,
                                std::function<void(std::optional<proto::error_info>)> done) = 0;
  /// Redis answers: the node can serve streams of other nodes and route to them.
  virtual bool ready() const = 0;
  virtual const std::string& node_id() const = 0;

  /// For /metrics.
  struct figures {
    bool redis_up = false;
    std::size_t mirrored_streams = 0;   // other nodes' streams watched from here
    std::size_t unsaved_streams = 0;    // this node's streams with events not yet in Redis
    std::uint64_t log_events = 0, log_batches = 0, log_failures = 0;
    std::uint64_t reaped_nodes = 0, interrupted_streams = 0, routed_requests = 0;
  };
  virtual figures stats() const = 0;
};

}  // namespace sg::gateway
