// A timer wheel per io_context: every paced callback of a shard shares one timer that ticks once a millisecond.
#pragma once

#include "core/executor.hpp"

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

namespace sg::core {

class histogram;

/// Something woken by a pacer.
class paced {
 public:
  virtual ~paced() = default;
  /// Runs on the pacer's thread, at the first tick at or after the time it was scheduled for.
  virtual void on_tick() = 0;
};

/// One per io_context (an Asio service). Thousands of paced streams then cost one timer wake-up per
/// tick instead of a timer (a heap insertion, a handler, a timerfd re-arm) per token. Callbacks fire
/// at most one tick late, never early. Only for an io_context run by one thread (a shard).
class pacer final : public net::execution_context::service {
 public:
  static inline net::execution_context::id id;
  static constexpr std::chrono::microseconds tick{1000};
  static constexpr std::size_t slots = 1024;  // a wheel turn: 1.024 s; later callbacks wait turns

  explicit pacer(net::io_context& ioc);
  ~pacer() override;

  /// The pacer of `ex`'s io_context when `ex` is a plain io_context executor (a shard, run by one
  /// thread) and this thread runs it; null otherwise (a strand: use a timer of its own).
  static pacer* of(const net::any_io_executor& ex);

  /// Run before and after each wake-up's callbacks, on the pacer's thread, when set (once, at
  /// start-up, before any pacer runs): the server opens its send batch around them, so the frames
  /// the callbacks write leave together (io::send_batch). Not for a run that starts two ticks or
  /// more late: the shard is behind, and its writes should not wait for the run's end.
  struct run_hooks {
    void (*begin)();
    void (*end)();
  };
  static void set_run_hooks(run_hooks h) { hooks_ = h; }

  /// Calls `target->on_tick()` on this io_context's thread at the first tick at or after `due`.
  /// Call on that thread.
  void schedule(std::chrono::steady_clock::time_point due, std::shared_ptr<paced> target);
  /// The last tick at or before `t`. A schedule made of such times falls due exactly on ticks, so
  /// each callback runs when its tick does, not up to a tick after the time it asked for.
  std::chrono::steady_clock::time_point tick_at_or_before(std::chrono::steady_clock::time_point t) const;
  /// Callbacks scheduled and not yet run.
  std::size_t pending() const { return pending_; }
  /// Timer wake-ups so far (each runs every callback that fell due since the last).
  std::uint64_t wakeups() const { return wakeups_; }
  /// From now on, each wake-up records in `h` how long after its tick it came: the time the thread
  /// took to wake and to reach the timer's handler (the event loop's lag). `h` outlives the pacer's
  /// use; null stops the recording.
  void report_lag(histogram* h) { lag_ = h; }

 private:
  struct entry {
    std::int64_t tick;
    std::shared_ptr<paced> target;
  };
  void shutdown() override;
  void arm(std::int64_t tick);
  void on_timer(std::int64_t armed);
  std::int64_t tick_at_or_after(std::chrono::steady_clock::time_point t) const;

  static inline run_hooks hooks_{nullptr, nullptr};

  net::io_context& ioc_;
  net::steady_timer timer_;
  std::chrono::steady_clock::time_point epoch_;  // tick 0
  std::vector<std::vector<entry>> wheel_;
  std::vector<entry> batch_;  // the slot being run (its capacity is reused)
  std::int64_t done_tick_ = 0;  // every tick up to this one has run
  std::int64_t armed_tick_ = -1;  // -1: the timer is not armed
  std::size_t pending_ = 0;
  std::uint64_t wakeups_ = 0;
  bool stopped_ = false;
  bool running_ = false;  // on_timer is running callbacks
  histogram* lag_ = nullptr;
};

}  // namespace sg::core
