// Owns every live and recently finished stream: starts them, finds them, cancels them, expires them.
#pragma once

#include "core/asio.hpp"
#include "core/config.hpp"
#include "proto/client_message.hpp"
#include "provider/provider.hpp"
#include "core/histogram.hpp"
#include "core/rate_limit.hpp"
#include "stream/stream.hpp"

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <tuple>
#include <unordered_map>

namespace sg::store {
class store;
}

namespace sg::stream {

class runner;

struct stream_counters {
  std::atomic<std::uint64_t> started{0}, completed{0}, cancelled{0}, failed{0}, chunks{0};
  std::atomic<std::uint64_t> rate_limited_starts{0}, rate_limited_concurrency{0}, rate_limited_tokens{0};
  core::histogram ttft;         // stream start → first delta
  core::histogram inter_chunk;  // between consecutive deltas of a stream
};

/// Upstream requests and errors by provider and error code. Thread-safe.
class upstream_counters {
 public:
  void request(const std::string& provider);
  void error(const std::string& provider, std::string_view code);
  /// (provider, count) and (provider, code, count) snapshots.
  std::vector<std::pair<std::string, std::uint64_t>> requests() const;
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> errors() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> errors_;
};

/// Thread-safe.
class stream_manager {
 public:
  stream_manager(net::io_context& ioc, const core::config& cfg, store::store& store,
                 std::map<std::string, std::shared_ptr<provider::provider>> providers);
  ~stream_manager();

  struct start_result {
    std::shared_ptr<stream> s;
    std::optional<proto::error_info> error;
    bool reused = false;  // a retry of a request already started: `s` is that stream
  };
  /// Creates a stream and starts its pipeline. stream_start (seq 1) is already in its log on return.
  /// `owner` may resume, read and cancel it ("" = anyone who knows its id); `limit_key` is whose
  /// rate limits and quotas it counts against (the user, or the source address when anonymous).
  /// `ex` is where the stream's pipeline runs: the executor of the connection that started it, so its
  /// tokens reach that connection without crossing threads. Without one, a new strand.
  start_result start(proto::stream_request req, std::string owner, std::string limit_key,
                     net::any_io_executor ex = {});
  start_result start(proto::stream_request req, std::string owner) {
    auto key = owner;
    return start(std::move(req), std::move(owner), std::move(key));
  }
  std::shared_ptr<stream> find(const std::string& id) const;
  /// Cancels a running stream; false if there is no such stream. A finished stream is left as it is.
  bool cancel(const std::string& id);

  std::size_t running() const;
  /// Calls `fn` once, from the thread that ends the last running stream (or now if none runs): how a
  /// drain learns that the streams are done. A later call replaces an earlier `fn` not yet called.
  void when_idle(std::function<void()> fn);
  std::size_t retained() const;
  /// Bytes held by finished streams kept for resume (bounded by --retained-max-bytes).
  std::size_t retained_bytes() const;
  /// Finished streams dropped before their retention ended, to stay within the byte budget.
  std::uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }
  const stream_counters& counters() const { return counters_; }
  const upstream_counters& upstream() const { return upstream_; }
  bool has_provider(const std::string& name) const { return providers_.count(name) > 0; }
  std::vector<std::string> provider_names() const;

  /// Starts the periodic expiry of finished streams.
  void start_sweeper();
  /// Refuses new streams from now on (drain).
  void stop_accepting() { accepting_ = false; }
  /// Ends every running stream with an `interrupted` error (drain deadline passed).
  void interrupt_all();
  /// Stops the sweeper so the io_context can run out of work.
  void stop();

 private:
  friend class runner;
  void on_finished(const std::string& id);
  void sweep();

  net::io_context& ioc_;
  const core::config& cfg_;
  store::store& store_;
  std::map<std::string, std::shared_ptr<provider::provider>> providers_;
  net::steady_timer sweeper_;
  std::atomic<bool> accepting_{true};
  std::atomic<bool> stopped_{false};
  stream_counters counters_;
  upstream_counters upstream_;
  std::atomic<std::size_t> running_{0};
  std::mutex idle_mu_;
  std::function<void()> on_idle_;  // guarded by idle_mu_
  void notify_if_idle();
  core::token_buckets start_rate_;   // stream starts per user
  core::token_buckets token_rate_;   // upstream tokens per user
  core::concurrency_limit per_user_;  // concurrent streams per user

  mutable std::mutex mu_;
  struct entry {
    std::shared_ptr<stream> s;
    std::shared_ptr<runner> r;
    std::string request_key;
  };
  std::unordered_map<std::string, entry> streams_;
  std::unordered_map<std::string, std::string> by_request_;  // owner + requestId → stream id
  std::deque<std::pair<std::string, std::size_t>> finished_;  // (id, bytes), oldest end first
  std::size_t finished_bytes_ = 0;
  std::atomic<std::uint64_t> evicted_{0};
};

}  // namespace sg::stream
