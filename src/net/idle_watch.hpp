// One sweep per shard for silent WebSockets: every connection of an io_context shares one timer that
// looks at each of them four times per idle limit, pings those silent for half of it and ends those
// silent for all of it.
#pragma once

#include "core/executor.hpp"

#include <chrono>
#include <cstddef>

namespace sg::io {

/// A connection an idle_watch looks after. Used on its io_context's thread only.
class idle_watched {
 public:
  /// Something came from the peer: a message, a frame of one, or a control frame (the answer to a ping).
  void heard(std::chrono::steady_clock::time_point now) {
    last_heard_ = now;
    pinged_ = false;
  }
  bool watched() const { return watched_; }

 protected:
  idle_watched() = default;
  idle_watched(const idle_watched&) = delete;
  idle_watched& operator=(const idle_watched&) = delete;
  ~idle_watched() = default;

 private:
  friend class idle_watch;
  /// Silent for half the limit: ask the peer for a sign of life. Called once per silence.
  virtual void idle_ping() = 0;
  /// Silent for the whole limit: end the connection. The watch has already let it go.
  virtual void idle_expired() = 0;

  idle_watched* prev_ = nullptr;
  idle_watched* next_ = nullptr;
  std::chrono::steady_clock::time_point last_heard_{};
  bool pinged_ = false;
  bool watched_ = false;
};

/// One per io_context (an Asio service), for an io_context run by one thread (a shard). Where each
/// connection kept a timer of its own and a wait on it (Beast's keep-alive: about 380 bytes a
/// connection, re-armed on every read), the shard keeps one timer, armed while it watches anything.
class idle_watch final : public net::execution_context::service {
 public:
  static inline net::execution_context::id id;

  explicit idle_watch(net::io_context& ioc);
  ~idle_watch() override;

  /// The watch of `ex`'s io_context. Call on that io_context's thread.
  static idle_watch& of(const net::io_context::executor_type& ex) { return net::use_service<idle_watch>(ex.context()); }

  /// Watches `w`, heard from now. `limit` is the longest silence allowed; every connection of a
  /// server has the same one, and the first sets it.
  void add(idle_watched& w, std::chrono::milliseconds limit);
  /// Stops watching `w` (nothing if it is not watched).
  void remove(idle_watched& w);
  std::size_t size() const { return size_; }

 private:
  void shutdown() override;
  void arm();
  void sweep();

  net::steady_timer timer_;
  idle_watched* head_ = nullptr;
  idle_watched* cursor_ = nullptr;  // the next connection the running sweep looks at
  std::chrono::milliseconds limit_{0};
  std::size_t size_ = 0;
  bool armed_ = false;
  bool stopped_ = false;
};

}  // namespace sg::io
