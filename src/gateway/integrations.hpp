// Route integrations: $connect, $disconnect, custom actions and $default answered by a team's own
// HTTP service, each call bounded by a timeout, a concurrency limit and a circuit breaker.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::gateway {

/// One [routes."NAME"] table.
struct route_settings {
  std::string name;  ///< "$connect", "$disconnect", "$default", or a custom action
  std::string url;   ///< ${ENV} already substituted
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent with every call, ${ENV} substituted
  std::int64_t timeout_ms = 5000;      ///< the whole call: connect, request, the complete answer
  unsigned max_concurrency = 64;       ///< calls in flight at once; more are refused at once
  unsigned breaker_failures = 5;       ///< consecutive failures that open the breaker (0 = never opens)
  std::int64_t breaker_reset_ms = 10'000;  ///< how long it stays open before one trial call
  unsigned retries = 2;                ///< $disconnect: retries of a failed call
  std::size_t max_response_bytes = 128 * 1024;  ///< a longer answer is a failure
};

/// The [routes.*] tables of the TOML file; throws std::invalid_argument naming the bad key. Start-up only.
std::vector<route_settings> load_route_settings(const std::string& config_file, const std::map<std::string, std::string>& env);
/// The same from TOML text; pure.
std::vector<route_settings> parse_route_settings(std::string_view toml_text, const std::map<std::string, std::string>& env);

/// Closed → open after `failures` consecutive failures → half-open after `reset` (one trial call) →
/// closed on its success, open again on its failure. Sans-I/O (times are passed in); thread-safe.
class circuit_breaker {
 public:
  using clock = std::chrono::steady_clock;
  enum class state { closed, open, half_open };
  circuit_breaker(unsigned failures, std::chrono::milliseconds reset) : failures_(failures), reset_(reset) {}
  /// Whether a call may start now; in half-open only one trial at a time is let through.
  bool allow(clock::time_point now);
  /// The outcome of a call that allow() let through.
  void success();
  void failure(clock::time_point now);
  state current(clock::time_point now) const;

 private:
  mutable std::mutex mu_;
  const unsigned failures_;
  const std::chrono::milliseconds reset_;
  unsigned consecutive_ = 0;
  bool open_ = false;
  bool trial_ = false;  // a half-open trial is in flight
  clock::time_point opened_at_{};
};

/// How one call ended.
enum class call_outcome { ok, http_4xx, http_5xx, timeout, unreachable, too_large, busy, circuit_open };
std::string_view to_string(call_outcome o);

struct call_result {
  call_outcome outcome = call_outcome::unreachable;
  unsigned status = 0;  ///< the HTTP status when an answer came
  std::string body;     ///< the answer's body (2xx and 4xx/5xx alike)
};

using header_list = std::vector<std::pair<std::string, std::string>>;

/// Every configured route on its own HTTP client. Thread-safe; share one per process.
class integrations {
 public:
  /// Throws std::invalid_argument for a URL that is not http(s).
  integrations(boost::asio::io_context& ioc, std::vector<route_settings> routes);
  ~integrations();

  bool empty() const { return routes_.empty(); }
  bool has(std::string_view name) const;
  /// Whether some route answers client messages (a custom action or $default).
  bool has_message_routes() const { return message_routes_; }

  /// POSTs `body` to route `name` (which must exist); `done` runs once on `ex` with the outcome.
  /// Never blocks; a busy or open-circuit route answers at once.
  void call(std::string_view name, std::string body, header_list headers, boost::asio::any_io_executor ex,
            std::function<void(call_result)> done);
  /// POSTs `body` to `name` and ignores the answer; a failure is logged and retried up to the route's
  /// `retries`, with a growing pause. For $disconnect.
  void notify(std::string_view name, std::string body, header_list headers);
  /// notify() calls not finished yet (the drain waits for them, bounded).
  std::size_t pending_notifications() const;

  /// Appends the integrations' counters in the Prometheus text format.
  void render_metrics(std::ostringstream& o) const;

  struct route;

 private:
  boost::asio::io_context& ioc_;
  std::map<std::string, std::shared_ptr<route>, std::less<>> routes_;
  bool message_routes_ = false;
  struct shared;
  std::shared_ptr<shared> shared_;
};

}  // namespace sg::gateway
