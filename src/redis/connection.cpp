#include "redis/connection.hpp"

#include "core/log.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>

#include <random>

namespace sg::redis {

connection::connection(net::any_io_executor ex, options o)
    : ex_(std::move(ex)), o_(std::move(o)), resolver_(ex_), sock_(ex_), connect_timer_(ex_), retry_timer_(ex_) {}

void connection::start() {
  net::dispatch(ex_, [self = shared_from_this()] { self->connect(); });
}

void connection::stop() {
  net::dispatch(ex_, [self = shared_from_this()] {
    if (self->stopped_) return;
    self->stopped_ = true;
    self->retry_timer_.cancel();
    self->drop(make_error_code(errc::stopped));
  });
}

void connection::on_state(std::function<void(bool)> fn) {
  net::dispatch(ex_, [self = shared_from_this(), fn = std::move(fn)]() mutable { self->state_fn_ = std::move(fn); });
}

void connection::report_state(bool up) {
  if (up == reported_up_) return;
  reported_up_ = up;
  if (state_fn_) state_fn_(up);
}

void connection::connect() {
  if (stopped_) return;
  ++generation_;
  resolver_.async_resolve(o_.ep.host, std::to_string(o_.ep.port),
                          [self = shared_from_this(), gen = generation_](error_code ec, tcp::resolver::results_type r) {
                            if (gen == self->generation_) self->on_resolved(ec, std::move(r));
                          });
}

void connection::on_resolved(error_code ec, tcp::resolver::results_type results) {
  if (stopped_) return;
  if (ec) return retry_later();
  connect_timer_.expires_after(o_.connect_timeout);
  connect_timer_.async_wait([self = shared_from_this(), gen = generation_](error_code ec) {
    // Connected and set up (AUTH, SELECT, a PING answered) within the timeout, or tried again.
    if (!ec && gen == self->generation_ && !self->connected()) {
      error_code ignored;
      self->sock_.close(ignored);  // the pending connect or read completes with an error: retried
    }
  });
  net::async_connect(sock_, results, [self = shared_from_this(), gen = generation_](error_code ec, const tcp::endpoint&) {
    if (gen == self->generation_) self->on_connected(ec);
  });
}

void connection::on_connected(error_code ec) {
  if (stopped_) return;
  if (ec) {
    connect_timer_.cancel();
    error_code ignored;
    sock_.close(ignored);
    return retry_later();
  }
  sock_.set_option(tcp::no_delay(true), ec);
  reader_ = std::make_unique<reader>();
  out_.clear();
  setup_pending_ = 0;
  if (!o_.ep.password.empty()) {
    write(format(o_.ep.user.empty() ? command{"AUTH", o_.ep.password} : command{"AUTH", o_.ep.user, o_.ep.password}));
    ++setup_pending_;
  }
  if (o_.ep.db != 0) {
    write(format({"SELECT", std::to_string(o_.ep.db)}));
    ++setup_pending_;
  }
  if (!o_.client_name.empty()) {
    write(format({"CLIENT", "SETNAME", o_.client_name}));
    ++setup_pending_;
  }
  // Up means answering: a server that accepts connections but is paused or loading is not up.
  write(format({"PING"}));
  ++setup_pending_;
  do_read();
}

void connection::do_read() {
  sock_.async_read_some(net::buffer(rbuf_), [self = shared_from_this(), gen = generation_](error_code ec, std::size_t n) {
    if (gen != self->generation_ || self->stopped_) return;
    if (ec) return self->drop(make_error_code(errc::closed));
    if (auto fed = self->reader_->feed(self->rbuf_.data(), n)) return self->drop(fed);
    for (;;) {
      auto next = self->reader_->next();
      if (!next) return self->drop(next.error());
      if (!*next) break;
      auto& r = *next;
      if (self->setup_pending_ > 0) {
        // A server still loading its data answers -LOADING: not up yet, try again shortly.
        if (r->is_error()) {
          core::log_warn("redis: connection set-up refused", {{"error", r->str}});
          return self->drop(make_error_code(errc::server));
        }
        if (--self->setup_pending_ == 0) {
          self->connect_timer_.cancel();
          self->attempt_ = 0;
          self->up_.store(true, std::memory_order_release);
          self->went_up();
        }
        continue;
      }
      self->handle_reply(std::move(**next));
      if (gen != self->generation_) return;  // the reply's handler dropped the connection
    }
    self->do_read();
  });
}

void connection::write(std::string bytes) {
  if (out_.empty()) out_ = std::move(bytes);
  else out_ += bytes;
  if (!writing_) do_write();
}

void connection::do_write() {
  if (out_.empty() || !sock_.is_open()) return;
  writing_ = true;
  writing_buf_.clear();
  std::swap(writing_buf_, out_);
  net::async_write(sock_, net::buffer(writing_buf_), [self = shared_from_this(), gen = generation_](error_code ec, std::size_t) {
    if (gen != self->generation_) return;
    self->writing_ = false;
    if (ec) return self->drop(make_error_code(errc::closed));
    self->do_write();
  });
}

void connection::drop(error_code why) {
  ++generation_;
  bool was_up = up_.exchange(false, std::memory_order_acq_rel);
  error_code ignored;
  resolver_.cancel();
  connect_timer_.cancel();
  sock_.close(ignored);
  writing_ = false;
  out_.clear();
  setup_pending_ = 0;
  (void)was_up;
  went_down(why);
  if (!stopped_) retry_later();
}

void connection::retry_later() {
  if (stopped_) return;
  // Full jitter: a random wait up to min(max, min * 2^attempt), so nodes that lost Redis together
  // do not come back together.
  auto cap = std::min<std::int64_t>(o_.backoff_max.count(), o_.backoff_min.count() << std::min(attempt_, 16u));
  ++attempt_;
  thread_local std::mt19937_64 rng{std::random_device{}()};
  auto wait = std::uniform_int_distribution<std::int64_t>(cap / 2, std::max<std::int64_t>(cap, 1))(rng);
  retry_timer_.expires_after(std::chrono::milliseconds(wait));
  retry_timer_.async_wait([self = shared_from_this()](error_code ec) {
    if (!ec) self->connect();
  });
}

}  // namespace sg::redis
