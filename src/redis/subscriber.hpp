// The Pub/Sub connection: channels remembered and subscribed again after each reconnect.
#pragma once

#include "redis/connection.hpp"

#include <map>
#include <set>
#include <vector>

namespace sg::redis {

class subscriber : public connection {
 public:
  static std::shared_ptr<subscriber> create(net::any_io_executor ex, options o);
  subscriber(net::any_io_executor ex, options o) : connection(std::move(ex), std::move(o)) {}

  /// On the executor, for each message, in the order Redis sent them.
  void on_message(std::function<void(const std::string& channel, const std::string& payload)> fn);
  /// Thread-safe; idempotent; remembered across reconnects.
  void subscribe(std::string channel);
  /// Thread-safe; the channel is forgotten.
  void unsubscribe(std::string channel);
  /// `fn(true)` on the executor once `channel` is confirmed subscribed (at once if it is); `fn(false)`
  /// if it is unsubscribed or the subscriber stops first. Used to subscribe first and read a log
  /// second, so that nothing falls in between.
  void when_subscribed(const std::string& channel, std::function<void(bool ok)> fn);
  /// Channels subscribed now (confirmed). Executor only.
  std::size_t subscribed() const { return confirmed_.size(); }

 private:
  void handle_reply(reply r) override;
  void went_up() override;
  void went_down(error_code why) override;

  std::function<void(const std::string&, const std::string&)> message_fn_;
  std::set<std::string> wanted_;
  std::set<std::string> confirmed_;
  std::map<std::string, std::vector<std::function<void(bool)>>> waiters_;
  bool announced_ = false;  // on_state(true) was reported for this connection
};

}  // namespace sg::redis
