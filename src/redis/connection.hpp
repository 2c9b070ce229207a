// One long-lived connection to Redis on an executor streamgate owns: resolve, connect, set-up
// (AUTH, SELECT, CLIENT SETNAME), a read loop feeding the RESP reader, one write in flight carrying
// everything queued, and a reconnect with exponential backoff and full jitter. The client and the
// Pub/Sub subscriber are built on it.
#pragma once

#include "core/executor.hpp"

#include <boost/asio/ip/tcp.hpp>
#include "redis/resp.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace sg::redis {

using tcp = net::ip::tcp;

struct options {
  endpoint ep;
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{2000};  // a reply later than this breaks the connection
  std::chrono::milliseconds backoff_min{100}, backoff_max{2000};
  std::string client_name;  // CLIENT SETNAME when set
};

class connection : public std::enable_shared_from_this<connection> {
 public:
  connection(net::any_io_executor ex, options o);
  virtual ~connection() = default;
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Connects in the background and reconnects until stop().
  void start();
  /// Fails what is pending with errc::stopped and closes; no more reconnects.
  void stop();
  /// Set-up done and the connection is up. Thread-safe.
  bool connected() const { return up_.load(std::memory_order_acquire); }
  /// Called on the executor at each connect (after the set-up) and at each loss.
  void on_state(std::function<void(bool up)> fn);

 protected:
  /// A reply that is not the set-up's.
  virtual void handle_reply(reply r) = 0;
  virtual void went_up() = 0;
  /// The connection was lost (or stopped: `why` is errc::stopped).
  virtual void went_down(error_code why) = 0;
  /// Queues bytes for the server; written at once if no write is in flight.
  void write(std::string bytes);
  /// Drops the connection (reconnecting later unless stopped).
  void drop(error_code why);
  void report_state(bool up);
  bool stopping() const { return stopped_; }

  net::any_io_executor ex_;
  const options o_;

 private:
  void connect();
  void on_resolved(error_code ec, tcp::resolver::results_type results);
  void on_connected(error_code ec);
  void do_read();
  void do_write();
  void retry_later();

  tcp::resolver resolver_;
  tcp::socket sock_;
  net::steady_timer connect_timer_;
  net::steady_timer retry_timer_;
  std::unique_ptr<reader> reader_;
  std::array<char, 16 * 1024> rbuf_{};
  std::string out_, writing_buf_;
  bool writing_ = false;
  unsigned setup_pending_ = 0;  // set-up replies still to come
  unsigned attempt_ = 0;        // failed connects in a row: the backoff's exponent
  std::uint64_t generation_ = 0;  // a connection's handlers ignore completions of an older one
  bool stopped_ = false;
  bool reported_up_ = false;
  std::atomic<bool> up_{false};
  std::function<void(bool)> state_fn_;
};

}  // namespace sg::redis
