#include "redis/client.hpp"

namespace sg::redis {

std::shared_ptr<client> client::create(net::any_io_executor ex, options o) {
  return std::make_shared<client>(std::move(ex), std::move(o));
}

client::client(net::any_io_executor ex, options o) : connection(ex, std::move(o)), deadline_(ex_) {}

void client::fail(request& r, error_code ec) {
  if (r.one) r.one(ec, reply{});
  else if (r.many) r.many(ec, {});
}

void client::exec(command c, callback cb) {
  net::dispatch(ex_, [self = std::static_pointer_cast<client>(shared_from_this()), c = std::move(c),
                      cb = std::move(cb)]() mutable {
    request r;
    r.one = std::move(cb);
    if (!self->connected()) return fail(r, make_error_code(errc::not_connected));
    self->send(format(c), std::move(r));
  });
}

void client::exec(std::vector<command> cs, batch_callback cb) {
  net::dispatch(ex_, [self = std::static_pointer_cast<client>(shared_from_this()), cs = std::move(cs),
                      cb = std::move(cb)]() mutable {
    request r;
    r.many = std::move(cb);
    if (!self->connected()) return fail(r, make_error_code(errc::not_connected));
    if (cs.empty()) return r.many(error_code{}, {});
    std::string bytes;
    for (auto& c : cs) bytes += format(c);
    r.replies = cs.size();
    r.got.reserve(cs.size());
    self->send(std::move(bytes), std::move(r));
  });
}

void client::send(std::string bytes, request r) {
  r.deadline = std::chrono::steady_clock::now() + o_.request_timeout;
  waiting_.push_back(std::move(r));
  write(std::move(bytes));
  arm_deadline();
}

void client::handle_reply(reply rep) {
  if (waiting_.empty()) return drop(make_error_code(errc::protocol));  // a reply nobody asked for
  auto& front = waiting_.front();
  if (front.one) {
    auto r = std::move(waiting_.front());
    waiting_.pop_front();
    r.one(error_code{}, std::move(rep));
    return;
  }
  front.got.push_back(std::move(rep));
  if (front.got.size() < front.replies) return;
  auto r = std::move(waiting_.front());
  waiting_.pop_front();
  r.many(error_code{}, std::move(r.got));
}

void client::went_down(error_code why) {
  // Unanswered requests fail now: whether the server applied them is unknown.
  auto failed = std::move(waiting_);
  waiting_.clear();
  auto ec = why == make_error_code(errc::timeout) || why == make_error_code(errc::stopped) ? why
                                                                                           : make_error_code(errc::closed);
  for (auto& r : failed) fail(r, ec);
  report_state(false);
}

// One timer for every request: it waits for the oldest one's deadline; a reply that came in time
// moves it to the next one's when it fires. The verdict is posted, so that a reply that arrived
// while this thread was busy elsewhere (its read completed in the same poll as the timer) is
// handled first and not counted late.
void client::arm_deadline() {
  if (deadline_armed_ || waiting_.empty()) return;
  deadline_armed_ = true;
  deadline_.expires_at(waiting_.front().deadline);
  deadline_.async_wait([self = std::static_pointer_cast<client>(shared_from_this())](error_code ec) {
    if (ec) {
      self->deadline_armed_ = false;
      return;
    }
    net::post(self->ex_, [self] {
      self->deadline_armed_ = false;
      if (self->waiting_.empty()) return;
      if (std::chrono::steady_clock::now() >= self->waiting_.front().deadline)
        return self->drop(make_error_code(errc::timeout));
      self->arm_deadline();
    });
  });
}

}  // namespace sg::redis
