#include "net/outbound_pump.hpp"

#include "core/clock.hpp"
#include "gateway/app.hpp"

namespace sg::io {

outbound_pump::outbound_pump(gateway::counters& stats, outbound_queue::limits l) : stats_(stats), queue_(l) {}

outbound_queue::push_result outbound_pump::push(proto::event_ptr ev) {
  auto r = queue_.push(std::move(ev));
  if (r == outbound_queue::push_result::merged) stats_.merged_chunks.fetch_add(1, std::memory_order_relaxed);
  if (r == outbound_queue::push_result::overflow) stats_.slow_closes.fetch_add(1, std::memory_order_relaxed);
  report();
  return r;
}

const outbound_pump::batch& outbound_pump::begin_write(std::size_t max_events) {
  if (queue_.writing() || queue_.empty()) {
    static const batch none;
    return none;
  }
  auto n = queue_.begin_write_n(max_events);
  for (std::size_t i = 0; i < n; ++i) in_flight_.push_back(queue_.writing_at(i));
  report();  // a merge's frame is made now, and counts for its exact size
  return in_flight_;
}

void outbound_pump::end_write(bool ok) {
  if (ok) {
    std::int64_t now = 0;  // read once, and only for a write that holds a paced event
    for (auto& ev : in_flight_) count_sent(*ev, now);
  }
  in_flight_.clear();
  if (in_flight_.capacity() > 1) batch().swap(in_flight_);  // a backlog's storage is not kept
  queue_.end_write();
  report();
}

void outbound_pump::sent_directly(const proto::event& ev) {
  std::int64_t now = 0;
  count_sent(ev, now);
}

void outbound_pump::count_sent(const proto::event& ev, std::int64_t& now) {
  if (ev.due_us) {
    if (!now) now = core::now_us();
    stats_.chunk_lateness.observe_ms(static_cast<double>(now - ev.due_us) / 1000.0);
  }
  stats_.events_sent.fetch_add(1, std::memory_order_relaxed);
}

bool outbound_pump::late(const proto::event& ev) {
  return ev.due_us && core::now_us() - ev.due_us > behind_us;
}

void outbound_pump::clear_waiting() {
  queue_.clear_waiting();
  report();
}

void outbound_pump::report() {
  auto now = static_cast<std::int64_t>(queue_.bytes());
  if (now != reported_bytes_) stats_.outbound_bytes.fetch_add(now - reported_bytes_, std::memory_order_relaxed);
  reported_bytes_ = now;
}

}  // namespace sg::io
