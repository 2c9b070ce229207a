// A connection's bounded outbound queue: one write in flight, lagging chunks merged, a hard cap.
#pragma once

#include "proto/event.hpp"

#include <cstddef>
#include <memory>
#include <vector>

namespace sg::io {

/// Sans-I/O queue policy. Not thread-safe: owned by one session and used on its strand.
class outbound_queue {
 public:
  struct limits {
    std::size_t merge_bytes = 0;          // waiting bytes at or above which chunks merge
    std::size_t max_bytes = 1024 * 1024;  // queued bytes past which the client is too slow
    // A drained queue keeps room for up to kept_slots events instead of giving its storage back: for
    // an SSE response, whose every event passes through the queue, that is an allocation and a free
    // less per event. A WebSocket keeps none (an idle connection's queue holds no memory).
    bool keep_storage = false;
  };
  static constexpr std::size_t kept_slots = 8;
  enum class push_result { queued, merged, overflow };

  explicit outbound_queue(limits l) : limits_(l) {}

  /// Queues `ev`; a chunk that directly follows a waiting chunk of its stream is merged into it.
  /// `overflow` means the queue now holds more than max_bytes: close the connection.
  /// A merge appends the chunk's text to the waiting one: its frame is written once, when it reaches
  /// the front, so a backlog of k chunks costs O(k) bytes of work, not O(k²).
  push_result push(proto::event_ptr ev);
  /// The front event, marked as being written; null if empty or a write is already in flight.
  proto::event_ptr begin_write();
  /// Up to `max_events` events from the front, oldest first, marked as being written together (one
  /// write for a whole backlog, where the transport allows it); empty if empty or a write is in flight.
  std::vector<proto::event_ptr> begin_write_all(std::size_t max_events);
  /// begin_write_all without the vector: marks up to `max_events` events from the front as being
  /// written and returns how many; writing_at(i) is the i-th of them.
  std::size_t begin_write_n(std::size_t max_events);
  const proto::event_ptr& writing_at(std::size_t i) const { return items_[head_ + i]; }
  /// Removes the events returned by begin_write, begin_write_all or begin_write_n.
  void end_write();

  bool writing() const { return writing_ != 0; }
  bool empty() const { return head_ == items_.size(); }
  std::size_t size() const { return items_.size() - head_; }
  std::size_t bytes() const { return bytes_; }
  std::size_t merged_total() const { return merged_total_; }
  /// Events the queue has room for without allocating (0 whenever it is drained, unless it keeps
  /// its storage: then at most kept_slots).
  std::size_t storage() const { return items_.capacity(); }
  /// Drops every event not yet being written.
  void clear_waiting();

 private:
  void pop_front();
  /// Bytes an item counts for: its frame, or for a merge not yet written out, an upper bound of it.
  std::size_t item_bytes(const proto::event* ev) const;
  /// The frame of a pending merge, made when it is about to be written.
  void finish_merge(std::size_t i);

  // Merges whose frames are not made yet: the event is owned by the queue alone, its content grows,
  // and `bytes` is what it counts for until its frame is made. One per lagging stream at most.
  struct pending_merge {
    std::shared_ptr<proto::event> ev;
    std::size_t bytes;
  };
  std::vector<pending_merge> merging_;
  static constexpr std::size_t no_merge = static_cast<std::size_t>(-1);
  /// The index in merging_ of the pending merge that `ev` is, or no_merge.
  std::size_t merge_index(const proto::event* ev) const;

  limits limits_;
  // A vector used as a queue from head_: an idle connection's queue holds no memory (a std::deque
  // allocates a 512-byte block as soon as it exists), and a burst's storage is given back once drained.
  std::vector<proto::event_ptr> items_;
  std::size_t head_ = 0;
  std::size_t bytes_ = 0;
  std::size_t writing_ = 0;  // events at the front being written
  std::size_t merged_total_ = 0;
};

}  // namespace sg::io
