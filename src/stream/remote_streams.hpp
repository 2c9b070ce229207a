// What a stream manager asks of the other nodes in cluster mode; absent on a single node.
#pragma once

#include "core/executor.hpp"
#include "core/result.hpp"
#include "proto/event.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace sg::stream {

class stream;

/// What a lookup of a stream found: the stream, null when no node knows the id, or
/// proto::error_code::unavailable when the shared log could not be asked (Redis unreachable
/// for as long as the lookup may wait) or has not reached what the caller has already read — then
/// the stream may well exist, and the caller may retry.
using lookup = result<std::shared_ptr<stream>>;
using found_fn = std::function<void(lookup)>;
/// What a caller answers when a lookup could not ask the shared log.
inline proto::error_info lookup_unavailable() {
  return {proto::error_code::unavailable, "the cluster's shared log is unreachable; retry", true, {}, {}};
}

/// Implemented by the cluster layer (cluster::node). Thread-safe.
class remote_streams {
 public:
  virtual ~remote_streams() = default;
  /// A stream this node generates, with stream_start already in its log: from now on its events also
  /// go to the shared log, where any node can replay them. `stored` (if set) is called, on any
  /// thread, once the stream is known to Redis (or writing it failed), so a client told the
  /// stream's id can resume it on any node.
  virtual void generating(const std::shared_ptr<stream>& s, std::function<void()> stored) = 0;
  /// A stream not generated here. `found` runs on `ex` with a local stream that mirrors it (its log
  /// replayed from the shared one, then its live events), or with null when no node knows the id
  /// (or an error: see `lookup`).
  /// `seen` is the last seq the caller has (a resume's lastSeq): the mirror is given once it has
  /// caught up that far (or the stream ended), as a client may have read on the generating node
  /// events that have not reached this one yet; `unavailable` when it does not within the wait.
  virtual void find(const std::string& id, std::uint64_t seen, net::any_io_executor ex, found_fn found) = 0;
  /// Asks the node generating `id` to cancel it (the answer reaches mirrors as the stream's events).
  virtual void cancel(const std::string& id) = 0;

  /// A stream about to start, for the limits every node shares.
  struct admission {
    std::string stream_id;    // the id the stream will have
    std::string limit_key;    // whose limits it counts against
    std::string request_key;  // owner + requestId ("" without a requestId)
  };
  struct admit_result {
    std::optional<proto::error_info> error;  // refused (rate_limited, or unavailable while Redis is away)
    std::string existing;                    // a retried request: the stream it already started
    bool unchecked = false;                  // Redis unreachable: apply this node's own limits
  };
  /// Applies the cluster-wide limits (concurrency, starts and tokens per minute) and claims the
  /// requestId; `done` runs on `ex`.
  virtual void admit(admission a, net::any_io_executor ex, std::function<void(admit_result)> done) = 0;
  /// The stream admitted under `limit_key` ended, having used `tokens` upstream tokens.
  virtual void finished(const std::string& limit_key, const std::string& stream_id, double tokens) = 0;
};

}  // namespace sg::stream
