// What a WebSocket and an SSE response share between an event and its write: the bounded queue,
// the events of the write in flight, the shared gauge of queued bytes, the merge and slow-client
// counters, and the lateness of what reached the socket. Sans-I/O: the session does the writing.
#pragma once

#include "net/outbound_queue.hpp"

#include <boost/container/small_vector.hpp>

#include <cstdint>

namespace sg::gateway {
struct counters;
}

namespace sg::io {

/// Owned by one session and used on its executor.
class outbound_pump {
 public:
  using batch = boost::container::small_vector<proto::event_ptr, 1>;

  outbound_pump(gateway::counters& stats, outbound_queue::limits l);
  outbound_pump(const outbound_pump&) = delete;
  outbound_pump& operator=(const outbound_pump&) = delete;

  /// Queues `ev` (a chunk that follows a waiting chunk of its stream merges into it). `overflow`:
  /// the client is too slow (a slow close is counted): the session drops what waits and ends it.
  outbound_queue::push_result push(proto::event_ptr ev);
  /// Up to `max_events` events to write now, oldest first, as one write; empty while a write is in
  /// flight or when nothing waits. They stay valid until end_write.
  const batch& begin_write(std::size_t max_events);
  /// The write begun last has ended; `ok`: it reached the socket, so its events count as sent and
  /// their lateness (written − due) is observed.
  void end_write(bool ok);
  /// `ev` was written whole at once, without being queued (the queue was empty): it counts as sent
  /// and its lateness is observed, as end_write(true) does for a queued one.
  void sent_directly(const proto::event& ev);
  /// `ev` is paced and already more than `behind_us` past its due time: the shard is behind its
  /// pacer, so the session queues it and writes it later (a WebSocket at the shard's late flush,
  /// an SSE response asynchronously), and what the pacer makes meanwhile merges behind it (one
  /// frame, one send, for several tokens) instead of each token costing a send of its own while
  /// the pacer falls further behind.
  static bool late(const proto::event& ev);
  static constexpr std::int64_t behind_us = 20'000;
  /// Drops every event not being written.
  void clear_waiting();

  bool writing() const { return queue_.writing(); }
  /// The event the next write would begin with; null while a write is in flight or nothing waits.
  const proto::event* front() const { return queue_.empty() || queue_.writing() ? nullptr : queue_.writing_at(0).get(); }
  bool empty() const { return queue_.empty(); }
  std::size_t bytes() const { return queue_.bytes(); }

 private:
  void report();  // publishes this queue's size change to the shared gauge
  // Counts `ev` as sent and observes its lateness; `now` is read at the first paced event and kept.
  void count_sent(const proto::event& ev, std::int64_t& now);

  gateway::counters& stats_;
  outbound_queue queue_;
  batch in_flight_;
  std::int64_t reported_bytes_ = 0;
};

}  // namespace sg::io
