#include "redis/subscriber.hpp"

namespace sg::redis {

std::shared_ptr<subscriber> subscriber::create(net::any_io_executor ex, options o) {
  return std::make_shared<subscriber>(std::move(ex), std::move(o));
}

void subscriber::on_message(std::function<void(const std::string&, const std::string&)> fn) {
  net::dispatch(ex_, [self = std::static_pointer_cast<subscriber>(shared_from_this()), fn = std::move(fn)]() mutable {
    self->message_fn_ = std::move(fn);
  });
}

void subscriber::subscribe(std::string channel) {
  net::dispatch(ex_, [self = std::static_pointer_cast<subscriber>(shared_from_this()), channel = std::move(channel)] {
    if (!self->wanted_.insert(channel).second) return;
    if (self->connected()) self->write(format({"SUBSCRIBE", channel}));
  });
}

void subscriber::unsubscribe(std::string channel) {
  net::dispatch(ex_, [self = std::static_pointer_cast<subscriber>(shared_from_this()), channel = std::move(channel)] {
    if (!self->wanted_.erase(channel)) return;
    self->confirmed_.erase(channel);
    if (self->connected()) self->write(format({"UNSUBSCRIBE", channel}));
    if (auto it = self->waiters_.find(channel); it != self->waiters_.end()) {
      auto fns = std::move(it->second);
      self->waiters_.erase(it);
      for (auto& fn : fns) fn(false);
    }
  });
}

void subscriber::when_subscribed(const std::string& channel, std::function<void(bool)> fn) {
  net::dispatch(ex_, [self = std::static_pointer_cast<subscriber>(shared_from_this()), channel,
                      fn = std::move(fn)]() mutable {
    if (self->confirmed_.count(channel)) return fn(true);
    if (!self->wanted_.count(channel) || self->stopping()) return fn(false);
    self->waiters_[channel].push_back(std::move(fn));
  });
}

void subscriber::went_up() {
  confirmed_.clear();
  announced_ = false;
  if (wanted_.empty()) {
    announced_ = true;
    report_state(true);
    return;
  }
  command c{"SUBSCRIBE"};
  c.insert(c.end(), wanted_.begin(), wanted_.end());
  write(format(c));
}

void subscriber::handle_reply(reply r) {
  if (r.type != reply::kind::array || r.elements.size() < 3) return;
  auto& kind = r.elements[0].str;
  auto& channel = r.elements[1].str;
  if (kind == "message") {
    if (message_fn_) message_fn_(channel, r.elements[2].str);
    return;
  }
  if (kind != "subscribe" || !wanted_.count(channel)) return;  // an unsubscribe's answer, or a late one
  confirmed_.insert(channel);
  if (auto it = waiters_.find(channel); it != waiters_.end()) {
    auto fns = std::move(it->second);
    waiters_.erase(it);
    for (auto& fn : fns) fn(true);
  }
  if (!announced_ && confirmed_.size() == wanted_.size()) {
    announced_ = true;
    report_state(true);
  }
}

void subscriber::went_down(error_code why) {
  confirmed_.clear();
  announced_ = false;
  if (why == make_error_code(errc::stopped)) {
    auto waiters = std::move(waiters_);
    waiters_.clear();
    for (auto& [ch, fns] : waiters)
      for (auto& fn : fns) fn(false);
  }
  report_state(false);
}

}  // namespace sg::redis
