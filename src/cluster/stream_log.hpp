// The generating node's side of the shared log: every event of its streams goes to a Redis Stream
// and to the stream's Pub/Sub channel, batched and pipelined (one round trip carries every event
// that queued while the previous one was in flight).
#pragma once

#include "core/executor.hpp"
#include "stream/stream.hpp"

#include <atomic>
#include <functional>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sg::redis {
class client;
}

namespace sg::cluster {

struct stream_log_counters {
  std::atomic<std::uint64_t> events{0};   // events appended to Redis
  std::atomic<std::uint64_t> batches{0};  // round trips that carried them
  std::atomic<std::uint64_t> failures{0}; // batches that failed (Redis down): retried when it is back
};

/// Thread-safe. Everything that talks to Redis runs on `ex` (the cluster strand).
class stream_log {
 public:
  stream_log(net::any_io_executor ex, std::shared_ptr<redis::client> redis, std::string node_id,
             std::int64_t retention_ms);
  ~stream_log();

  /// Starts copying `s`'s events (from seq 1) to the shared log, with its meta hash and a place in
  /// this node's running set, until its terminal event is stored.
  /// `stored` is called once its first batch (its meta hash) is in Redis, or failed.
  void track(const std::shared_ptr<stream::stream>& s, std::string request_key, std::function<void()> stored);
  /// Redis is back: write again everything not yet acknowledged (`from_start`: everything, as a
  /// restarted Redis without persistence has lost what it had).
  void resend_all(bool from_start);
  /// Stops copying `id` (another node ended it in the shared log while this one was taken for
  /// dead); false if it was not being copied.
  bool abandon(const std::string& id);
  /// Streams still being copied (running, or ended with events not yet stored).
  std::size_t tracked() const;
  const stream_log_counters& counters() const { return counters_; }

 private:
  struct tap;
  struct tracked_stream {
    std::shared_ptr<stream::stream> s;
    std::shared_ptr<tap> t;
    std::string request_key;
    std::function<void()> stored;
    std::uint64_t acked = 0;  // every seq up to this one is in Redis
    bool meta_written = false;
    bool dirty = false;  // listed in dirty_
  };
  void mark(const std::string& id);
  void flush();

  net::any_io_executor ex_;
  std::shared_ptr<redis::client> redis_;
  const std::string node_id_;
  const std::int64_t retention_ms_;
  stream_log_counters counters_;

  mutable std::mutex mu_;  // guards streams_, dirty_, flush_posted_
  std::unordered_map<std::string, tracked_stream> streams_;
  std::vector<std::string> dirty_;
  bool flush_posted_ = false;
  bool in_flight_ = false;  // on ex_ only
};

}  // namespace sg::cluster
