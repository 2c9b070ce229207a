// The event log and fan-out: one serialized buffer per event, shared by every subscriber.
#include "stream/stream.hpp"

#include "core/clock.hpp"

#include <algorithm>

namespace sg::stream {

std::string_view to_string(state s) {
  switch (s) {
    case state::running: return "running";
    case state::completed: return "completed";
    case state::cancelled: return "cancelled";
    case state::failed: return "failed";
  }
  return "running";
}

stream::stream(std::string id, std::string project_id, std::string owner, std::string provider,
               std::size_t log_max_bytes)
    : id_(std::move(id)),
      project_id_(std::move(project_id)),
      owner_(std::move(owner)),
      provider_(std::move(provider)),
      log_max_bytes_(log_max_bytes),
      created_at_ms_(core::now_ms()) {}

void stream::publish(proto::event_ptr ev) {
  ++next_seq_;
  std::lock_guard lock(mu_);
  if (state_ != state::running) return;  // nothing follows a terminal event
  if (ev->terminal()) {
    using proto::event_type;
    state_ = ev->type == event_type::stream_complete    ? state::completed
             : ev->type == event_type::stream_cancelled ? state::cancelled
                                                        : state::failed;
    ended_at_ms_ = core::now_ms();
  }
  log_bytes_ += ev->json.size();
  log_.push_back(ev);
  // Trim the oldest events past the byte bound, but always keep the newest one.
  while (log_bytes_ > log_max_bytes_ && log_.size() - log_head_ > 1) {
    log_bytes_ -= log_[log_head_]->json.size();
    log_[log_head_].reset();
    ++log_head_;
    ++first_retained_;
  }
  if (log_head_ > 1024 && log_head_ * 2 > log_.size()) {
    log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(log_head_));
    log_head_ = 0;
  }
  bool prune = false;
  for (auto& [key, weak] : subs_) {
    if (auto s = weak.lock())
      s->deliver(ev);
    else
      prune = true;
  }
  if (state_ != state::running) {
    subs_.clear();
  } else if (prune) {
    std::erase_if(subs_, [](auto& p) { return p.second.expired(); });
  }
}

void stream::append_text(std::string_view delta) {
  std::lock_guard lock(mu_);
  text_.append(delta);
}

stream::subscribe_result stream::subscribe(const std::shared_ptr<subscriber>& sub, std::uint64_t after_seq) {
  std::lock_guard lock(mu_);
  if (after_seq + 1 < first_retained_) return subscribe_result::not_retained;
  auto last = log_.empty() ? 0 : log_.back()->seq;
  if (after_seq > last && state_ == state::running) return subscribe_result::beyond_end;
  if (after_seq >= last && state_ != state::running) return subscribe_result::past_end;
  for (std::size_t i = log_head_; i < log_.size(); ++i)
    if (log_[i]->seq > after_seq) sub->deliver(log_[i]);
  if (state_ != state::running) return subscribe_result::ended;
  auto key = sub.get();
  auto it = std::find_if(subs_.begin(), subs_.end(), [key](auto& p) { return p.first == key; });
  if (it == subs_.end()) subs_.emplace_back(key, sub);
  return subscribe_result::ok;
}

void stream::unsubscribe(const subscriber* sub) {
  std::lock_guard lock(mu_);
  std::erase_if(subs_, [sub](auto& p) { return p.first == sub; });
}

proto::event_ptr stream::last_event() const {
  std::lock_guard lock(mu_);
  return log_.empty() ? nullptr : log_.back();
}

std::optional<std::vector<proto::event_ptr>> stream::events_between(std::uint64_t after, std::uint64_t upto) const {
  std::lock_guard lock(mu_);
  if (after + 1 < first_retained_) return std::nullopt;
  std::vector<proto::event_ptr> out;
  for (std::size_t i = log_head_; i < log_.size(); ++i)
    if (log_[i]->seq > after && log_[i]->seq <= upto) out.push_back(log_[i]);
  return out;
}

bool stream::ended() const {
  std::lock_guard lock(mu_);
  return state_ != state::running;
}

std::int64_t stream::ended_at_ms() const {
  std::lock_guard lock(mu_);
  return ended_at_ms_;
}

std::size_t stream::subscriber_count() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

stream_info stream::info() const {
  std::lock_guard lock(mu_);
  stream_info i;
  i.id = id_;
  i.project_id = project_id_;
  i.owner = owner_;
  i.provider = provider_;
  i.st = state_;
  i.last_seq = log_.empty() ? 0 : log_.back()->seq;
  i.text = text_;
  i.created_at_ms = created_at_ms_;
  i.ended_at_ms = ended_at_ms_;
  return i;
}

}  // namespace sg::stream
