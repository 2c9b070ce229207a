// This process as one node of a cluster on Redis (docs/cluster.md): its heartbeat, the shared log of
// the streams it generates, mirrors of the streams others generate, the shared connection table,
// requests routed to the node that can act on them, and the end of a dead node's streams.
#pragma once

#include "core/executor.hpp"
#include "core/config.hpp"
#include "gateway/cluster_link.hpp"
#include "stream/remote_streams.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace sg::redis {
class client;
struct reply;
class subscriber;
}  // namespace sg::redis
namespace sg::store {
class store;
}
namespace sg::stream {
class stream_manager;
}
namespace sg::gateway {
class connection_registry;
}

namespace sg::cluster {

class stream_log;
class mirrors;
class limits;

struct node_counters {
  std::atomic<std::uint64_t> reaped_nodes{0}, interrupted_streams{0}, routed_requests{0};
};

class node : public stream::remote_streams, public gateway::cluster_link, public gateway::connection_observer {
 public:
  /// Throws std::invalid_argument for a bad --cluster URL. `ioc` runs the cluster strand.
  node(net::io_context& ioc, const core::config& cfg, gateway::connection_registry& connections, stream::stream_manager& streams,
       store::store& st);
  ~node() override;

  /// Connects (in the background: the node serves its own streams while Redis is away), starts the
  /// heartbeat, subscribes to its control channel.
  void start();
  /// Leaves the cluster: the heartbeat goes at once, so no other node waits for it to expire.
  /// Called when the drain is over and this node's streams are stored.
  void leave(std::function<void()> done);
  void stop();
  /// Streams whose events are not all in Redis yet.
  std::size_t unsaved_streams() const;

  // stream::remote_streams
  void generating(const std::shared_ptr<stream::stream>& s, std::function<void()> stored) override;
  void find(const std::string& id, std::uint64_t seen, net::any_io_executor ex, stream::found_fn found) override;
  void cancel(const std::string& id) override;
  void admit(admission a, net::any_io_executor ex, std::function<void(admit_result)> done) override;
  void finished(const std::string& limit_key, const std::string& stream_id, double tokens) override;

  // gateway::cluster_link
  void find_connection(const std::string& id, std::function<void(std::optional<connection_info>)> done) override;
  void send_to_connection(const connection_info& c, std::string frame, std::function<void(bool)> done) override;
  void disconnect_connection(const connection_info& c, std::function<void(bool)> done) override;
  void admit_connection(const std::string& connection_id, const std::string& ip_key, const std::string& user_key,
                        std::function<void(std::optional<proto::error_info>)> done) override;
  bool ready() const override;
  const std::string& node_id() const override { return id_; }
  figures stats() const override;

  // gateway::connection_observer
  void opened(const gateway::connection_identity& c) override;
  void closed(const std::string& id) override;
  /// Pushes the TTL of every local connection's row forward (the connection-table sweep).
  void refresh_connections();

  const node_counters& counters() const { return counters_; }
  std::size_t mirrored() const;

 private:
  void heartbeat();      // beats, looks for dead nodes, and comes back in a third of the TTL
  void heartbeat_now();  // only the beat
  void find_dead_nodes();
  void reap(const std::string& dead);
  void end_previous_life();
  void end_stream_of_dead_node(const std::string& dead, const std::string& stream_id);
  void ended_by_others(const std::vector<redis::reply>& streams);
  void on_control(const std::string& payload);
  void publish_control(const std::string& node, std::string payload, std::function<void(bool)> done);

  const core::config& cfg_;
  gateway::connection_registry& connections_;
  stream::stream_manager& streams_;
  store::store& store_;
  const std::string id_;
  net::strand<net::io_context::executor_type> ex_;
  std::shared_ptr<redis::client> redis_;
  std::shared_ptr<redis::subscriber> sub_;
  std::unique_ptr<stream_log> log_;
  std::unique_ptr<mirrors> mirrors_;
  std::unique_ptr<limits> limits_;
  net::steady_timer beat_;
  std::atomic<bool> stopped_{false};
  bool leaving_ = false;
  std::string redis_run_id_;  // INFO server's run_id: a new one means Redis restarted, empty
  node_counters counters_;
};

}  // namespace sg::cluster
