// A stream: its state, its seq-numbered event log, and the subscribers that receive its events.
#pragma once

#include "proto/event.hpp"

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sg::stream {

struct kept_reader;

/// Receives a stream's events in seq order.
class subscriber {
 public:
  virtual ~subscriber() = default;
  /// Called with the stream's lock held: may queue, post or start a write, never block or call
  /// back into a stream (a connection on the producer's own thread queues the event inline).
  virtual void deliver(proto::event_ptr ev) = 0;
};

enum class state { running, completed, cancelled, failed };
std::string_view to_string(state s);

struct stream_info {
  std::string id;
  std::string project_id;
  std::string owner;
  std::string provider;
  state st = state::running;
  std::uint64_t last_seq = 0;
  std::string text;
  std::int64_t created_at_ms = 0;
  std::int64_t ended_at_ms = 0;
};

/// Streams outlive connections: events are kept (bounded in bytes) so any client can resume.
/// Thread-safe: publishing happens on one producer executor; subscribing from any thread.
class stream {
 public:
  /// `created_at_ms` 0: now (a mirror of another node's stream passes the time it started there).
  stream(std::string id, std::string project_id, std::string owner, std::string provider, std::size_t log_max_bytes,
         std::int64_t created_at_ms = 0);

  const std::string& id() const { return id_; }
  const std::string& project_id() const { return project_id_; }
  const std::string& owner() const { return owner_; }

  /// The seq the next published event will carry. Producer only.
  std::uint64_t next_seq() const { return next_seq_; }
  /// Appends `ev` (whose seq must be next_seq()) to the log and delivers it to every subscriber.
  /// A terminal event ends the stream and drops the subscribers. Producer only.
  void publish(proto::event_ptr ev);
  /// publish() of the stream_complete that proto::make_complete built from `u` and `m`: the finished
  /// stream keeps these numbers to rebuild it, instead of parsing them back out of its JSON. Producer only.
  void publish_complete(proto::event_ptr ev, const proto::usage& u, const proto::stream_metrics& m);
  /// publish() of proto::make_progress(id(), next_seq(), stage, step, percent), noting which row of
  /// the shared table of stages rebuilds it, so the stream's end keeps that row without parsing the
  /// frame back. Producer only.
  void publish_progress(std::string_view stage, std::string_view step, int percent);
  /// Appends the delta to the text the stream has produced so far. Producer only.
  void append_text(std::string_view delta);
  /// publish() of a stream_chunk whose content is also appended to the text: one lock for both. Producer only.
  void publish_chunk(proto::event_ptr ev);
  /// The text produced so far (a copy).
  std::string text() const;
  /// For the once-a-second checkpoint of a recorded answer, from any thread: the text produced so far
  /// if it grew since the last call and the stream is still running; nullopt otherwise.
  std::optional<std::string> text_to_checkpoint();

  enum class subscribe_result { ok, ended, not_retained, past_end, beyond_end };
  /// Delivers every logged event with seq > after_seq, then (if still running) every live event.
  /// `ended`: the stream is over and everything after after_seq was delivered.
  /// `not_retained`: events after after_seq were dropped from the bounded log.
  /// `past_end`: the stream is over and after_seq is at or past its terminal event: nothing follows.
  /// `beyond_end`: after_seq is past the last event of a running stream (a client's mistake).
  /// Nothing is delivered and no subscription is kept for the last three.
  subscribe_result subscribe(const std::shared_ptr<subscriber>& sub, std::uint64_t after_seq);
  void unsubscribe(const subscriber* sub);
  /// The newest event in the log (the terminal one once the stream is over).
  proto::event_ptr last_event() const;
  /// The logged events with after < seq <= upto; nullopt if some were trimmed from the log.
  std::optional<std::vector<proto::event_ptr>> events_between(std::uint64_t after, std::uint64_t upto) const;

  bool ended() const;
  stream_info info() const;
  /// About how many bytes of memory the stream holds (its log, its text), for the retention budget.
  std::size_t retained_bytes() const;
  std::int64_t created_at_ms() const { return created_at_ms_; }
  std::int64_t ended_at_ms() const;
  std::size_t subscriber_count() const;
  /// A stream that is not resumable is dropped when it ends, so its log is not compacted then. Set
  /// before the first event is published.
  void set_resumable(bool r) { resumable_ = r; }
  bool resumable() const { return resumable_; }
  /// A stream no reader can join once its first one has (a completion without a requestId: it is not
  /// resumable and no retry can find it) keeps, from that first subscription on, only its newest
  /// event: what a reader was given is not held again by the log. A later subscribe() from before
  /// that event is `not_retained`. Set before the first event is published.
  void set_joinable(bool j) { joinable_ = j; }

 private:
  const std::string id_;
  const std::string project_id_;
  const std::string owner_;
  const std::string provider_;
  const std::size_t log_max_bytes_;
  const std::int64_t created_at_ms_;
  bool resumable_ = true;
  bool joinable_ = true;
  std::uint64_t next_seq_ = 1;  // producer only

  mutable std::mutex mu_;
  std::vector<proto::event_ptr> log_;  // log_[i].seq == first_retained_ + i
  std::uint64_t first_retained_ = 1;
  std::size_t log_bytes_ = 0;
  std::size_t log_head_ = 0;  // events before log_head_ were trimmed (compacted lazily)
  // Once the stream ends its chunks are kept compactly: their text is text_'s tail from
  // chunk_text_begin_, and chunk_code_ holds, per chunk, varints of its length and of its dueUs
  // minus the previous one's. The other events (stream_start, progress, an error) are kept as their
  // frames only: kept_ holds, per event, varints of its seq, its type and its frame's length, then the
  // frame (a progress frame that make_progress rebuilds exactly: a row of a table of stages that every
  // stream shares). log_ is then empty; a chunk's seq is every seq in [first_retained_, last_seq_] that no kept
  // event has. Replay rebuilds every frame, byte for byte as it was sent live.
  bool compact_ = false;
  std::string kept_;
  std::string chunk_code_;
  std::size_t chunk_text_begin_ = 0;
  std::string chunk_session_;
  std::uint64_t last_seq_ = 0;
  // A stream_complete is rebuilt from the text too (its fullContent is the text): only its usage and
  // metrics are kept. Set when the rebuilt frame was checked equal to the one sent live.
  bool complete_rebuilt_ = false;
  bool complete_numbers_known_ = false;  // publish_complete gave complete_usage_ and complete_metrics_
  // (seq, row of the table of stages) of each progress event publish_progress made, until compact().
  std::vector<std::pair<std::uint64_t, std::uint64_t>> progress_rows_;
  proto::usage complete_usage_;
  proto::stream_metrics complete_metrics_;
  proto::event_ptr rebuild_complete() const;
  // set_joinable(false), once subscribed: the log drops all but its newest event. mu_ held.
  void keep_newest_only();
  std::uint64_t last_seq_locked() const;
  template <class Fn>
  void for_each_logged(std::uint64_t after, std::uint64_t upto, Fn&& fn) const;
  void compact();
  void compact_complete(std::vector<proto::event_ptr>& kept);
  proto::event_ptr kept_event(const kept_reader& k) const;
  void publish_locked(proto::event_ptr ev);
  std::vector<std::pair<const subscriber*, std::weak_ptr<subscriber>>> subs_;
  state state_ = state::running;
  // text_'s size when text_to_checkpoint last returned it, modulo 2^32 (it sits in state_'s padding;
  // a text that grew by a multiple of 4 GiB in a second would be taken as unchanged once).
  std::uint32_t checkpointed_bytes_ = 0;
  std::string text_;
  std::int64_t ended_at_ms_ = 0;
};

}  // namespace sg::stream
