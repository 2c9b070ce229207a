// The command connection: requests queued and pipelined (everything queued goes in one write),
// replies matched to them in order, and a deadline per request checked by one timer.
#pragma once

#include "redis/connection.hpp"

#include <deque>
#include <vector>

namespace sg::redis {

class client : public connection {
 public:
  using callback = std::function<void(error_code, reply)>;
  using batch_callback = std::function<void(error_code, std::vector<reply>)>;

  static std::shared_ptr<client> create(net::any_io_executor ex, options o);
  client(net::any_io_executor ex, options o);

  /// Thread-safe; callbacks run on the client's executor, in order. While not connected, fails at
  /// once with errc::not_connected (nothing is queued for later). A Redis error reply is not an
  /// error_code: it arrives as reply{kind::error}.
  void exec(command c, callback cb);
  /// One batch, written together; the replies in order.
  void exec(std::vector<command> cs, batch_callback cb);
  /// Requests sent and not yet answered (for tests and metrics). Executor only.
  std::size_t in_flight() const { return waiting_.size(); }

 private:
  struct request {
    callback one;
    batch_callback many;
    std::size_t replies = 1;
    std::vector<reply> got;
    std::chrono::steady_clock::time_point deadline;
  };
  void handle_reply(reply r) override;
  void went_up() override { report_state(true); }
  void went_down(error_code why) override;
  void send(std::string bytes, request r);
  void arm_deadline();
  static void fail(request& r, error_code ec);

  std::deque<request> waiting_;
  net::steady_timer deadline_;
  bool deadline_armed_ = false;
};

}  // namespace sg::redis
