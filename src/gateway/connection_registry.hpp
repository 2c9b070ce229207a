// Every open WebSocket connection by id: for the management API, metrics and drain.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace sg::gateway {

/// The WebSocket close codes (RFC 6455, section 7.4.1) the gateway asks a connection to close with;
/// the same values as Beast's websocket::close_code, which only the transport includes.
namespace close_codes {
inline constexpr std::uint16_t normal = 1000;
}  // namespace close_codes

struct connection_identity {
  std::string connection_id;
  std::string source_ip;
  std::string user_agent;
  std::string sub;
  std::int64_t connected_at_ms = 0;
};

/// What the gateway may do to a connection from outside its strand. Implementations post.
class connection_handle {
 public:
  virtual ~connection_handle() = default;
  /// Queues `text` as one frame.
  virtual void send_frame(std::string text) = 0;
  /// Starts the close handshake with `code`.
  /// `code` is a WebSocket close code (RFC 6455), e.g. 1000 or 1008.
  virtual void disconnect(std::uint16_t code, std::string reason) = 0;
  virtual const connection_identity& identity() const = 0;
  virtual std::int64_t last_active_ms() const = 0;
};

/// Told of every connection added and removed (cluster mode's shared connection table).
class connection_observer {
 public:
  virtual ~connection_observer() = default;
  virtual void opened(const connection_identity& c) = 0;
  virtual void closed(const std::string& id) = 0;
};

/// Thread-safe. Holds weak references: a registry entry never keeps a connection alive.
class connection_registry {
 public:
  /// Set once at start-up, before any connection.
  void set_observer(connection_observer* o) { observer_ = o; }
  void add(const std::string& id, const std::shared_ptr<connection_handle>& c);
  void remove(const std::string& id);
  std::shared_ptr<connection_handle> find(const std::string& id) const;
  /// A snapshot taken under the lock, to act on outside it.
  std::vector<std::shared_ptr<connection_handle>> snapshot() const;
  std::vector<std::string> ids() const;
  std::size_t size() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::weak_ptr<connection_handle>> conns_;
  connection_observer* observer_ = nullptr;
};

/// The SSE responses open now, each with what ends it (posted to its own thread): a cluster node's
/// drain ends them all so that EventSource reconnects to another node. Thread-safe.
class sse_registry {
 public:
  void add(const void* key, std::function<void()> end);
  void remove(const void* key);
  std::vector<std::function<void()>> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::unordered_map<const void*, std::function<void()>> open_;
};

}  // namespace sg::gateway
