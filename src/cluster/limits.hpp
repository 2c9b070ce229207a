// The per-user limits every node shares: concurrent streams, stream starts per minute and upstream
// tokens per minute, kept in Redis and checked by one Lua script per stream start; and the
// requestId a retried request is matched by, claimed by the same script.
#pragma once

#include "core/asio.hpp"
#include "core/config.hpp"
#include "stream/remote_streams.hpp"

#include <memory>
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
  std::mutex mu_;
  std::unordered_map<std::string, std::string> slots_;  // stream id → limit key, while it runs here
};

}  // namespace sg::cluster
