// Async HTTP/1.1 client for upstream providers: pooled keep-alive connections, TLS, timeouts, abort.
#pragma once

#include "core/executor.hpp"
#include "core/http_message.hpp"
#include "provider/http/url.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace sg::provider::httpc {

/// Failures the client itself detects; transport errors keep their Asio/SSL/Beast codes.
enum class client_errc {
  connect_timeout = 1,  ///< resolve + connect + proxy CONNECT + TLS handshake took too long
  first_byte_timeout,   ///< no response head within the first-byte limit after the request went out
  idle_timeout,         ///< the body stalled longer than the between-chunk limit
  proxy_refused,        ///< the proxy answered CONNECT with something other than 2xx
  resolve_empty,        ///< DNS gave no address
};
[[nodiscard]] const boost::system::error_category& client_category() noexcept;
[[nodiscard]] inline error_code make_error_code(client_errc e) noexcept {
  return {static_cast<int>(e), client_category()};
}
/// True for the three timeout codes above.
[[nodiscard]] bool is_timeout(const error_code& ec) noexcept;

struct timeouts {
  std::chrono::milliseconds connect{10'000};
  std::chrono::milliseconds first_byte{120'000};
  std::chrono::milliseconds idle{120'000};
};

struct client_options {
  std::string ca_file;                  ///< extra trusted CAs (PEM), besides the system store
  bool use_system_store = true;         ///< ssl::context::set_default_verify_paths()
  std::optional<url> https_proxy;       ///< CONNECT proxy for https:// upstreams
  std::vector<std::string> no_proxy;    ///< hosts (or ".suffix", or "*") that bypass the proxy
  std::size_t max_idle_per_origin = 8;  ///< keep-alive connections kept per upstream
  std::chrono::milliseconds keep_alive{30'000};  ///< an idle connection older than this is dropped
};

/// The proxy settings of the environment (HTTPS_PROXY, https_proxy, NO_PROXY, no_proxy); pure.
[[nodiscard]] client_options options_from_env(const std::map<std::string, std::string>& env);
/// True if a NO_PROXY entry names `host` or a domain it is in ("*" names every host).
[[nodiscard]] bool bypasses_proxy(const std::vector<std::string>& no_proxy, const std::string& host);

struct request_spec {
  http::verb method = http::verb::post;
  url origin;          ///< scheme, host and port (its path is ignored: `target` is sent as it is)
  std::string target;  ///< the request target, already percent-encoded
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  timeouts limits;
};

using response_head = http::response_header<>;

/// Callbacks of one exchange; each runs on the executor given to start().
struct handlers {
  std::function<void()> on_sent;                       ///< the request is written (may repeat on a stale-connection retry)
  std::function<void(const response_head&)> on_head;   ///< status and headers arrived
  std::function<void(std::string_view)> on_body;       ///< the next body bytes, as they arrive
  std::function<void(error_code)> on_end;              ///< once: empty code = whole body read; never after abort()
};

/// One request in flight.
class exchange {
 public:
  virtual ~exchange() = default;
  /// Closes the connection at once; no callback runs afterwards. Call on the exchange's executor.
  virtual void abort() = 0;
};

/// Thread-safe; share one per process. Handshakes and I/O are asynchronous; nothing blocks.
class client {
 public:
  explicit client(client_options opts = {});
  ~client();
  client(const client&) = delete;

  /// Starts a request; callable from any thread. Callbacks run on `ex` (use a strand).
  std::shared_ptr<exchange> start(request_spec spec, handlers h, net::any_io_executor ex);

  /// Idle keep-alive connections held for `origin` (url::origin()); any thread.
  [[nodiscard]] std::size_t idle_connections(const std::string& origin) const;

  struct impl;  // shared with the exchanges, which may outlive the client

 private:
  std::shared_ptr<impl> impl_;
};

}  // namespace sg::provider::httpc

template <>
struct boost::system::is_error_code_enum<sg::provider::httpc::client_errc> : std::true_type {};
