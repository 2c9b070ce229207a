// The per-user limits every node shares: concurrent streams, stream starts per minute and upstream
// tokens per minute, kept in Redis and checked by one Lua script per stream start; and the
// requestId a retried request is matched by, claimed by the same script.
#pragma once

#include "core/executor.hpp"
#include "core/config.hpp"
#include "stream/remote_streams.hpp"

#include <memory>
#include <optional>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sg::redis {
class client;
}

namespace sg::cluster {

class limits {
 public:
  limits(std::shared_ptr<redis::client> redis, const core::config& cfg);

  /// One round trip (none when no limit is set and there is no requestId). While Redis is
  /// unreachable the answer is `unchecked`: the node applies its own limits alone meanwhile.
  /// No limit is set and there is no requestId: nothing to ask Redis.
  bool free_pass(const stream::remote_streams::admission& a) const;
  void admit(stream::remote_streams::admission a, std::function<void(stream::remote_streams::admit_result)> done);
  /// Frees the stream's slot and charges its tokens.
  void finished(const std::string& limit_key, const std::string& stream_id, double tokens);
  /// Pushes forward the expiry of this node's slots (the heartbeat), so a dead node's slots lapse.
  void refresh();

  /// A WebSocket about to be upgraded: the connections per address and per user, and the new
  /// connections per second per address, across every node (each node also applies its own at
  /// accept). Null: admitted (or Redis unreachable: the node's own limits stand alone meanwhile).
  struct connection_admission {
    std::string connection_id;
    std::string ip_key;    // the client's address (its /64 for IPv6)
    std::string user_key;  // the authenticated user; "" for anonymous callers
  };
  bool connection_free_pass(const connection_admission& a) const;
  void admit_connection(connection_admission a, std::function<void(std::optional<proto::error_info>)> done);
  /// The connection is open (its slots are kept alive from now on) or closed (freed).
  void connection_opened(const std::string& connection_id);
  void connection_closed(const std::string& connection_id);
  static const char* connection_script();

  /// The Lua scripts, for their unit test.
  static const char* admit_script();
  static const char* charge_script();

 private:
  std::shared_ptr<redis::client> redis_;
  const double start_rate_per_ms_, start_burst_;
  const unsigned max_concurrent_;
  const double token_rate_per_ms_, token_burst_;
  const std::int64_t slot_ttl_ms_;
  const std::int64_t request_ttl_ms_;
  const unsigned max_per_ip_, max_per_user_;
  const double connect_rate_per_ms_, connect_burst_;
  std::mutex mu_;
  std::unordered_map<std::string, std::string> slots_;  // stream id → limit key, while it runs here
  struct connection_slot {
    std::string ip_key, user_key;
    bool open = false;           // admitted and upgraded: refreshed until it closes
    std::int64_t admitted_ms = 0;  // an upgrade that never completes stops being refreshed
  };
  std::unordered_map<std::string, connection_slot> connections_;  // connection id → its slots
  std::int64_t connections_refreshed_ms_ = 0;
};

}  // namespace sg::cluster
