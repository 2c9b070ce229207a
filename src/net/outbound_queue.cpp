// Merging keeps a slow reader's backlog to one growing chunk per stream instead of thousands of frames.
#include "net/outbound_queue.hpp"

namespace sg::io {

using proto::event_type;

outbound_queue::push_result outbound_queue::push(proto::event_ptr ev) {
  if (ev->type == event_type::stream_chunk && !items_.empty()) {
    std::size_t waiting_from = writing_ ? 1 : 0;
    std::size_t waiting_bytes = bytes_ - (writing_ ? items_.front()->json.size() : 0);
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
  if (writing_ || items_.empty()) return nullptr;
  writing_ = true;
  return items_.front();
}

void outbound_queue::end_write() {
  if (!writing_ || items_.empty()) return;
  bytes_ -= items_.front()->json.size();
  items_.pop_front();
  writing_ = false;
}

void outbound_queue::clear_waiting() {
  while (items_.size() > (writing_ ? 1u : 0u)) {
    bytes_ -= items_.back()->json.size();
    items_.pop_back();
  }
}

}  // namespace sg::io
