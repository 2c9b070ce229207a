// Merging keeps a slow reader's backlog to one growing chunk per stream instead of thousands of frames.
#include "net/outbound_queue.hpp"

namespace sg::io {

using proto::event_type;

outbound_queue::push_result outbound_queue::push(proto::event_ptr ev) {
  if (ev->type == event_type::stream_chunk && !empty()) {
    std::size_t waiting_from = head_ + (writing_ ? 1 : 0);
    std::size_t waiting_bytes = bytes_ - (writing_ ? items_[head_]->json.size() : 0);
    if (items_.size() > waiting_from && waiting_bytes >= limits_.merge_bytes) {
      // Only the newest queued event of this stream may absorb the chunk, and only if it is the
      // chunk right before it: anything else between them would be reordered.
      for (std::size_t i = items_.size(); i-- > waiting_from;) {
        const auto& prev = items_[i];
        if (prev->stream_id != ev->stream_id) continue;
        if (prev->type == event_type::stream_chunk && prev->seq + 1 == ev->first_seq) {
          auto merged = proto::merge_chunks(*prev, *ev);
          bytes_ -= prev->json.size();
          bytes_ += merged->json.size();
          items_[i] = std::move(merged);
          ++merged_total_;
          return bytes_ > limits_.max_bytes ? push_result::overflow : push_result::merged;
        }
        break;
      }
    }
  }
  bytes_ += ev->json.size();
  items_.push_back(std::move(ev));
  return bytes_ > limits_.max_bytes ? push_result::overflow : push_result::queued;
}

proto::event_ptr outbound_queue::begin_write() {
  if (writing_ || empty()) return nullptr;
  writing_ = true;
  return items_[head_];
}

void outbound_queue::end_write() {
  if (!writing_ || empty()) return;
  bytes_ -= items_[head_]->json.size();
  pop_front();
  writing_ = false;
}

void outbound_queue::pop_front() {
  items_[head_++].reset();
  if (head_ == items_.size()) {
    // Drained: start over at the front, and give a burst's storage back.
    items_.clear();
    head_ = 0;
    if (items_.capacity() > 16) items_.shrink_to_fit();
  } else if (head_ >= 64 && head_ * 2 >= items_.size()) {
    items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

void outbound_queue::clear_waiting() {
  while (size() > (writing_ ? 1u : 0u)) {
    bytes_ -= items_.back()->json.size();
    items_.pop_back();
  }
  if (empty()) {
    items_.clear();
    head_ = 0;
  }
}

}  // namespace sg::io
