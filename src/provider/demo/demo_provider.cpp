// Token k is due at start + ttft + k/rate: a late wake-up never pushes later tokens back.
#include "provider/demo/demo_provider.hpp"

#include "core/pacer.hpp"
#include "provider/demo/title_generator.hpp"

#include <chrono>

namespace sg::provider::demo {
namespace {

class demo_job : public core::paced, public std::enable_shared_from_this<demo_job> {
 public:
  demo_job(net::any_io_executor ex, std::shared_ptr<sink> out, generated g, double ttft_ms, double tps)
      : ex_(ex), timer_(ex), out_(std::move(out)), g_(std::move(g)), ttft_ms_(ttft_ms), tps_(tps) {}

  void run(const std::shared_ptr<cancellation>& cancel) {
    pacer_ = core::pacer::of(ex_);
    auto now = std::chrono::steady_clock::now();
    auto sys_now = std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
    // On a pacer the schedule starts at its last tick, so tokens whose offsets are whole ticks
    // (the default pace: 300 ms, then 25 ms apart) fall due exactly on ticks and run when they do.
    // Started at an arbitrary moment, every token of the stream would wait the same part of a tick;
    // a stream started by a client's answer to a tick's write lands just after a tick, and each of its
    // tokens then waited almost a whole one (0.9 ms on average at 300 streams).
    start_ = pacer_ ? pacer_->tick_at_or_before(now) : now;
    sys_start_us_ = sys_now - std::chrono::duration_cast<std::chrono::microseconds>(now - start_).count();
    std::weak_ptr<demo_job> weak = shared_from_this();
    cancel->on_cancel([weak, ex = ex_] {
      net::post(ex, [weak] {
        if (auto self = weak.lock()) {
          self->cancelled_ = true;
          self->timer_.cancel();
        }
      });
    });
    out_->on_request_sent();
    schedule();
  }

 private:
  std::chrono::microseconds offset_of(std::size_t k) const {
    double us = ttft_ms_ * 1000.0;
    if (tps_ > 0) us += static_cast<double>(k) * 1e6 / tps_;
    return std::chrono::microseconds(static_cast<std::int64_t>(us));
  }

  void schedule() {
    if (cancelled_) return;
    if (next_ == g_.tokens.size()) {
      out_->on_done(proto::usage{g_.input_tokens, g_.tokens.size()});
      return;
    }
    // On a shard, all its streams' tokens share the shard's pacer; on a strand, a timer of its own.
    if (pacer_) {
      pacer_->schedule(start_ + offset_of(next_), shared_from_this());
      return;
    }
    timer_.expires_at(start_ + offset_of(next_));
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->on_tick();
    });
  }

  void on_tick() override {
    if (cancelled_) return;  // cancelled: the stream already reported it
    auto due_us = sys_start_us_ + offset_of(next_).count();
    out_->on_delta(std::move(g_.tokens[next_]), due_us);
    ++next_;
    schedule();
  }

  net::any_io_executor ex_;
  core::pacer* pacer_ = nullptr;
  net::steady_timer timer_;
  std::shared_ptr<sink> out_;
  generated g_;
  double ttft_ms_;
  double tps_;
  std::chrono::steady_clock::time_point start_;
  std::int64_t sys_start_us_ = 0;
  std::size_t next_ = 0;
  bool cancelled_ = false;
};

}  // namespace

void demo_provider::start(std::shared_ptr<const request> req, std::shared_ptr<sink> out, net::any_io_executor ex,
                          std::shared_ptr<cancellation> cancel) {
  auto job = std::make_shared<demo_job>(ex, std::move(out), generate_titles(*req), ttft_ms_, tps_);
  net::post(ex, [job, cancel] { job->run(cancel); });
}

}  // namespace sg::provider::demo
