// The wheel: a slot per tick of one turn; a callback further out than a turn waits in its slot.
#include "core/pacer.hpp"

#include "core/histogram.hpp"

#include <algorithm>
#include <optional>

namespace sg::core {

pacer::pacer(net::io_context& ioc)
    : net::execution_context::service(ioc),
      ioc_(ioc),
      timer_(ioc),
      epoch_(std::chrono::steady_clock::now()),
      wheel_(slots) {}

pacer::~pacer() = default;

pacer* pacer::of(const net::any_io_executor& ex) {
  auto* io = ex.target<net::io_context::executor_type>();
  if (!io || !io->running_in_this_thread()) return nullptr;
  return &net::use_service<pacer>(io->context());
}

std::int64_t pacer::tick_at_or_after(std::chrono::steady_clock::time_point t) const {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - epoch_).count();
  if (us <= 0) return 0;
  return (us + tick.count() - 1) / tick.count();
}

std::chrono::steady_clock::time_point pacer::tick_at_or_before(std::chrono::steady_clock::time_point t) const {
  auto d = t - epoch_;
  auto ticks = d / tick;                // toward zero
  if (ticks * tick > d) --ticks;  // down, before the epoch
  return epoch_ + ticks * tick;
}

void pacer::schedule(std::chrono::steady_clock::time_point due, std::shared_ptr<paced> target) {
  if (stopped_) return;
  // Never into a tick that already ran (or is running): the earliest is the next one.
  auto t = std::max(tick_at_or_after(due), done_tick_ + 1);
  wheel_[static_cast<std::size_t>(t) % slots].push_back({t, std::move(target)});
  ++pending_;
  if (!running_ && (armed_tick_ < 0 || t < armed_tick_)) arm(t);
}

void pacer::arm(std::int64_t t) {
  armed_tick_ = t;
  timer_.expires_at(epoch_ + t * tick);  // cancels a later wait, whose handler then sees operation_aborted
  timer_.async_wait([this, t](error_code ec) {
    if (ec || t != armed_tick_) return;
    on_timer(t);
  });
}

void pacer::on_timer(std::int64_t armed) {
  armed_tick_ = -1;
  ++wakeups_;
  running_ = true;  // callbacks that schedule again are armed for once, below
  auto now = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - epoch_).count();
  if (lag_) lag_->observe_ms(static_cast<double>(std::max<std::int64_t>(0, now - armed * tick.count())) / 1000.0);
  std::int64_t now_tick = std::max<std::int64_t>(now / tick.count(), done_tick_);
  // Each slot once, even after a stall longer than a turn.
  auto last = std::min(now_tick, done_tick_ + static_cast<std::int64_t>(slots));
  // The hooks' end runs however the callbacks leave (one may throw out of the event loop). A run that
  // starts two ticks or more after its tick belongs to a shard behind its pacer: its callbacks are
  // many and its tokens late, so no hook delays their writes to the run's end (they merge in their
  // queues and leave through the late flush instead, see io::late_writes).
  struct run_scope {
    run_scope() { if (hooks_.begin) hooks_.begin(); }
    ~run_scope() { if (hooks_.end) hooks_.end(); }
  };
  std::optional<run_scope> scope;
  if (now - armed * tick.count() < 2 * tick.count()) scope.emplace();
  for (auto t = done_tick_ + 1; t <= last; ++t) {
    done_tick_ = t;  // callbacks scheduled from here on land in a later tick
    auto& slot = wheel_[static_cast<std::size_t>(t) % slots];
    if (slot.empty()) continue;
    batch_.swap(slot);
    for (auto& e : batch_) {
      if (e.tick > now_tick) {
        wheel_[static_cast<std::size_t>(e.tick) % slots].push_back(std::move(e));  // a later turn
        continue;
      }
      --pending_;
      auto target = std::move(e.target);
      target->on_tick();
    }
    batch_.clear();
    if (slot.empty()) slot.swap(batch_);  // keep the larger buffer in the wheel
  }
  done_tick_ = now_tick;
  running_ = false;
  scope.reset();
  if (pending_ == 0 || stopped_) return;
  // The next slot holding anything (if it holds only later turns' callbacks, that wake-up runs none).
  for (std::int64_t t = done_tick_ + 1; t <= done_tick_ + static_cast<std::int64_t>(slots); ++t) {
    auto& slot = wheel_[static_cast<std::size_t>(t) % slots];
    if (slot.empty()) continue;
    arm(t);
    return;
  }
}

void pacer::shutdown() {
  stopped_ = true;
  timer_.cancel();
  for (auto& slot : wheel_) slot.clear();
  batch_.clear();
  pending_ = 0;
}

}  // namespace sg::core
