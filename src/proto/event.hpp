// A server→client event, serialized once into immutable buffers shared by every subscriber.
#pragma once

#include "proto/error_code.hpp"

#include <cstdint>
#include <memory>
#include <atomic>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>

namespace sg::proto {

enum class event_type : std::uint8_t {
  connected,
  pong,
  stream_start,
  progress,
  stream_chunk,
  stream_complete,
  stream_cancelled,
  error,
  raw,        // a frame given verbatim by the management API
  heartbeat,  // an SSE comment that keeps proxies from timing out
};

std::string_view to_string(event_type t);

/// An immutable id that the events of one stream share: a copy takes a reference instead of
/// allocating (a stream id is past the 15 characters a std::string holds in place, so each chunk
/// event's copies of its stream and session ids were two allocations and two frees).
class shared_id {
 public:
  shared_id() = default;
  shared_id(std::string_view s) : p_(s.empty() ? nullptr : std::make_shared<const std::string>(s)) {}
  shared_id(const std::string& s) : shared_id(std::string_view(s)) {}
  shared_id(const char* s) : shared_id(std::string_view(s)) {}
  const std::string& str() const { return p_ ? *p_ : none(); }
  operator const std::string&() const { return str(); }
  operator std::string_view() const { return str(); }
  bool empty() const { return !p_ || p_->empty(); }
  std::size_t size() const { return str().size(); }
  friend bool operator==(const shared_id& a, const shared_id& b) { return a.p_ == b.p_ || a.str() == b.str(); }
  friend bool operator==(const shared_id& a, std::string_view b) { return a.str() == b; }
  friend bool operator==(const shared_id& a, const std::string& b) { return a.str() == b; }
  friend bool operator==(const shared_id& a, const char* b) { return a.str() == b; }
  friend std::ostream& operator<<(std::ostream& os, const shared_id& id) { return os << id.str(); }

 private:
  static const std::string& none() {
    static const std::string empty;
    return empty;
  }
  std::shared_ptr<const std::string> p_;
};

struct event {
  event_type type = event_type::error;

 private:
  friend class chunk_maker;
  // 1 while a chunk's frame is still to be written (chunk_maker), 2 while a thread writes it, 0
  // once it is there (every other event has it from the start). These three sit in type's padding.
  mutable std::atomic<std::uint8_t> frame_state_{0};
  bool plain_ids_ = false;         // its stream and session ids need no escaping in JSON
  std::uint32_t frame_bytes_ = 0;  // what frame_bytes() counts for a chunk whose frame comes later

 public:
  shared_id stream_id;         // empty for connection-level events
  std::uint64_t seq = 0;       // 0 for connection-level events
  std::uint64_t first_seq = 0; // stream_chunk only: first seq a merged chunk holds
  std::string content;         // stream_chunk only: the text delta, kept for merging
  shared_id session_id;        // stream_chunk only
  std::int64_t due_us = 0;     // stream_chunk only: when the provider's schedule said it was due

  /// The WebSocket frame / SSE data line. A chunk from chunk_maker writes it on first use: a
  /// /v1/chat/completions response formats chunks its own way and never does. Thread-safe.
  const std::string& json() const {
    if (frame_state_.load(std::memory_order_acquire) != 0) write_frame();
    return json_;
  }
  /// The frame, to write while the event is not yet shared.
  std::string& frame() { return json_; }
  /// The bytes a queue or a stream's log counts for this event, the same before and after json()
  /// writes a chunk's frame: the frame's size, or for a chunk that writes it on first use, its
  /// text with the frame's fixed part (escapes the text may need are not counted).
  std::size_t frame_bytes() const { return frame_bytes_ ? frame_bytes_ : json_.size(); }
  /// False while a chunk's frame is still to be written: json() would write it.
  bool has_frame() const { return frame_state_.load(std::memory_order_acquire) == 0; }
  /// True for stream_complete, stream_cancelled and an error that ends a stream.
  bool terminal() const;
  /// "id: <seq>\nevent: <type>\ndata: <json>\n\n", built on first use and then shared. Thread-safe.
  const std::string& sse() const;

  event() = default;
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  ~event();

 private:
  void write_frame() const;
  mutable std::string json_;
  mutable std::atomic<const std::string*> sse_{nullptr};  // owned; the first complete build wins
};

using event_ptr = std::shared_ptr<const event>;

struct usage {
  std::uint64_t input_tokens = 0;
  std::uint64_t output_tokens = 0;
};

struct stream_metrics {
  std::int64_t first_chunk_ms = -1;
  std::uint64_t total_chunks = 0;
  std::int64_t duration_ms = 0;
};

/// A frame sent verbatim (POST /@connections/{id}).
event_ptr make_raw(std::string text);
/// The shared SSE ": ping" comment.
event_ptr heartbeat_event();
event_ptr make_connected(std::string_view connection_id, std::int64_t server_time_ms);
event_ptr make_pong(std::string_view request_id);
event_ptr make_stream_start(std::string_view stream_id, std::string_view session_id, std::string_view request_id);
event_ptr make_progress(std::string_view stream_id, std::uint64_t seq, std::string_view stage,
                        std::string_view step, int percent);
event_ptr make_chunk(std::string_view stream_id, std::uint64_t seq, std::string content, std::string_view session_id,
                     std::int64_t due_us = 0, std::uint64_t first_seq = 0);
/// Makes the chunks of one stream: its ids are shared, not copied, and a chunk's frame is written
/// when something first reads it (json()), byte-identical to make_chunk's.
class chunk_maker {
 public:
  chunk_maker(std::string_view stream_id, std::string_view session_id);
  /// A chunk whose frame is written when json() is first called, byte for byte the frame make_chunk
  /// writes at once.
  event_ptr make(std::uint64_t seq, std::string content, std::int64_t due_us) const;

 private:
  shared_id stream_id_;
  shared_id session_id_;
  std::size_t fixed_bytes_ = 0;  // the frame less its text, seq and dueUs, with the ids escaped
  bool plain_ids_ = false;       // neither id needs escaping
};
/// The merge of two consecutive chunks of one stream: `a` then `b`.
event_ptr merge_chunks(const event& a, const event& b);
event_ptr make_complete(std::string_view stream_id, std::uint64_t seq, std::string_view full_content,
                        const usage& u, const stream_metrics& m);
event_ptr make_cancelled(std::string_view stream_id, std::uint64_t seq);

struct error_info {
  error_code code = error_code::internal;
  std::string message;
  bool retryable = false;
  std::optional<std::int64_t> retry_after_ms;
  std::string field;
};
/// An error event; with a stream id and seq it ends that stream, with a request id it answers a request.
event_ptr make_error(const error_info& e, std::string_view stream_id = {}, std::uint64_t seq = 0,
                     std::string_view request_id = {});
/// The JSON body of an error answer on REST/SSE routes (the same shape as the WebSocket event).
std::string error_body(const error_info& e, std::string_view request_id = {});

}  // namespace sg::proto
