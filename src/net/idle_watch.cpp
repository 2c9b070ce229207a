// The sweep: a doubly linked list through the connections themselves, walked from a cursor that a
// removal during the walk moves past the connection it removes.
#include "net/idle_watch.hpp"

#include <algorithm>

namespace sg::io {

idle_watch::idle_watch(net::io_context& ioc) : net::execution_context::service(ioc), timer_(ioc) {}

idle_watch::~idle_watch() = default;

void idle_watch::add(idle_watched& w, std::chrono::milliseconds limit) {
  if (stopped_ || w.watched_) return;
  if (limit_.count() == 0) limit_ = std::max(limit, std::chrono::milliseconds(4));
  w.last_heard_ = std::chrono::steady_clock::now();
  w.pinged_ = false;
  w.watched_ = true;
  w.prev_ = nullptr;
  w.next_ = head_;
  if (head_) head_->prev_ = &w;
  head_ = &w;
  ++size_;
  if (!armed_) arm();
}

void idle_watch::remove(idle_watched& w) {
  if (!w.watched_) return;
  if (cursor_ == &w) cursor_ = w.next_;
  if (w.prev_) w.prev_->next_ = w.next_;
  else head_ = w.next_;
  if (w.next_) w.next_->prev_ = w.prev_;
  w.prev_ = w.next_ = nullptr;
  w.watched_ = false;
  --size_;
}

void idle_watch::arm() {
  armed_ = true;
  // Four looks per limit: a ping goes out between a half and three quarters of the limit into a
  // silence, and a connection still silent ends between the limit and a quarter past it.
  timer_.expires_after(limit_ / 4);
  timer_.async_wait([this](error_code ec) {
    armed_ = false;
    if (ec || stopped_) return;
    sweep();
    if (head_) arm();
  });
}

void idle_watch::sweep() {
  auto now = std::chrono::steady_clock::now();
  for (auto* w = head_; w; w = cursor_) {
    cursor_ = w->next_;
    auto silent = now - w->last_heard_;
    if (silent >= limit_) {
      remove(*w);
      w->idle_expired();
    } else if (silent >= limit_ / 2 && !w->pinged_) {
      w->pinged_ = true;
      w->idle_ping();
    }
  }
  cursor_ = nullptr;
}

void idle_watch::shutdown() {
  stopped_ = true;
  // Pending work is destroyed after this: connections destroyed with it find themselves let go.
  while (head_) remove(*head_);
  timer_.cancel();
}

}  // namespace sg::io
