// Merging keeps a slow reader's backlog to one growing chunk per stream instead of thousands of frames.
#include "net/outbound_queue.hpp"

#include <algorithm>

namespace sg::io {

using proto::event_type;

std::size_t outbound_queue::merge_index(const proto::event* ev) const {
  for (std::size_t k = 0; k < merging_.size(); ++k)
    if (merging_[k].ev.get() == ev) return k;
  return no_merge;
}

std::size_t outbound_queue::item_bytes(const proto::event* ev) const {
  auto k = merge_index(ev);
  return k == no_merge ? ev->frame_bytes() : merging_[k].bytes;
}

namespace {
// What a merged frame may gain beside its text: a firstSeq field, and digits of its seq and dueUs.
constexpr std::size_t merge_slack = 48;

// The length of a chunk's content as its frame spells it (JSON-escaped), read off the frame: chunk
// frames are {..."content":"<escaped>","sessionId":"..."...}, and neither marker can occur unescaped
// anywhere else. Six bytes per byte (the longest escape) if the frame is not of that shape. A chunk
// whose frame is not written yet counts its text as it is, as its frame_bytes() does: that is what
// the merged chunk holds until its frame is made.
std::size_t escaped_content_bytes(const proto::event& ev) {
  if (!ev.has_frame()) return ev.content.size();
  constexpr std::string_view open = "\"content\":\"", close = "\",\"sessionId\":\"";
  const auto& frame = ev.json();
  auto from = frame.find(open);
  auto to = frame.rfind(close);
  if (from == std::string::npos || to == std::string::npos || to < from + open.size()) return ev.content.size() * 6;
  return to - (from + open.size());
}
}  // namespace

outbound_queue::push_result outbound_queue::push(proto::event_ptr ev) {
  if (ev->type == event_type::stream_chunk && !empty()) {
    std::size_t waiting_from = head_ + writing_;
    std::size_t waiting_bytes = bytes_;
    for (std::size_t i = head_; i < waiting_from; ++i) waiting_bytes -= item_bytes(items_[i].get());
    if (items_.size() > waiting_from && waiting_bytes >= limits_.merge_bytes) {
      // Only the newest queued event of this stream may absorb the chunk, and only if it is the
      // chunk right before it: anything else between them would be reordered.
      for (std::size_t i = items_.size(); i-- > waiting_from;) {
        const auto& prev = items_[i];
        if (prev->stream_id != ev->stream_id) continue;
        if (prev->type == event_type::stream_chunk && prev->seq + 1 == ev->first_seq) {
          auto k = merge_index(prev.get());
          if (k == no_merge) {
            // The first merge into this chunk: a copy the queue owns, whose frame is made later.
            auto own = std::make_shared<proto::event>();
            own->type = event_type::stream_chunk;
            own->stream_id = prev->stream_id;
            own->seq = prev->seq;
            own->first_seq = prev->first_seq;
            own->session_id = prev->session_id;
            own->due_us = prev->due_us;
            own->content.reserve(prev->content.size() * 4 + ev->content.size());
            own->content = prev->content;
            // The merged frame gains a firstSeq field, and its seq and dueUs may gain digits.
            merging_.push_back({own, prev->frame_bytes() + merge_slack});
            bytes_ += merge_slack;
            k = merging_.size() - 1;
            items_[i] = std::move(own);
          }
          auto* m = &merging_[k];
          auto grown = escaped_content_bytes(*ev);
          m->ev->content += ev->content;
          m->ev->seq = ev->seq;
          m->ev->due_us = ev->due_us;
          m->bytes += grown;
          bytes_ += grown;
          ++merged_total_;
          return bytes_ > limits_.max_bytes ? push_result::overflow : push_result::merged;
        }
        break;
      }
    }
  }
  bytes_ += ev->frame_bytes();
  items_.push_back(std::move(ev));
  return bytes_ > limits_.max_bytes ? push_result::overflow : push_result::queued;
}

void outbound_queue::finish_merge(std::size_t i) {
  auto k = merge_index(items_[i].get());
  if (k == no_merge) return;
  auto it = merging_.begin() + static_cast<std::ptrdiff_t>(k);
  auto& e = *it->ev;
  // The merged chunk is due when its last delta was: lateness is measured on the newest token.
  auto frame = proto::make_chunk(e.stream_id, e.seq, std::move(e.content), e.session_id, e.due_us, e.first_seq);
  bytes_ = bytes_ - it->bytes + frame->frame_bytes();
  items_[i] = std::move(frame);
  merging_.erase(it);
}

proto::event_ptr outbound_queue::begin_write() {
  if (writing_ || empty()) return nullptr;
  if (!merging_.empty()) finish_merge(head_);
  writing_ = 1;
  return items_[head_];
}

std::size_t outbound_queue::begin_write_n(std::size_t max_events) {
  if (writing_ || empty() || max_events == 0) return 0;
  std::size_t n = std::min(size(), max_events);
  if (!merging_.empty())
    for (std::size_t i = head_; i < head_ + n; ++i) finish_merge(i);
  writing_ = n;
  return n;
}

std::vector<proto::event_ptr> outbound_queue::begin_write_all(std::size_t max_events) {
  std::size_t n = begin_write_n(max_events);
  return std::vector<proto::event_ptr>(items_.begin() + static_cast<std::ptrdiff_t>(head_),
                                       items_.begin() + static_cast<std::ptrdiff_t>(head_ + n));
}

void outbound_queue::end_write() {
  for (; writing_ && !empty(); --writing_) {
    bytes_ -= items_[head_]->frame_bytes();
    pop_front();
  }
  writing_ = 0;
}

void outbound_queue::pop_front() {
  items_[head_++].reset();
  if (head_ == items_.size()) {
    // Drained: start over at the front, and give the storage back (an idle connection's queue
    // holds none; the next event's allocation is a few dozen nanoseconds), unless it is kept.
    items_.clear();
    head_ = 0;
    if (!limits_.keep_storage || items_.capacity() > kept_slots) items_.shrink_to_fit();
  } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void outbound_queue::clear_waiting() {
  while (size() > writing_) {
    auto k = merge_index(items_.back().get());
    bytes_ -= k == no_merge ? items_.back()->frame_bytes() : merging_[k].bytes;
    if (k != no_merge) merging_.erase(merging_.begin() + static_cast<std::ptrdiff_t>(k));
    items_.pop_back();
  }
  if (empty()) {
    items_.clear();
    head_ = 0;
  }
}

}  // namespace sg::io
