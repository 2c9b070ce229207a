// A provider that streams from an HTTP upstream: one protocol, the shared client, retries before the first token.
#pragma once

#include "provider/protocol.hpp"

#include <memory>

namespace sg::provider {

class upstream_provider final : public provider {
 public:
  upstream_provider(provider_settings s, std::unique_ptr<protocol> p, std::shared_ptr<httpc::client> c);
  std::string name() const override { return s_->name; }
  void start(std::shared_ptr<const request> req, std::shared_ptr<sink> out, net::any_io_executor ex,
             std::shared_ptr<cancellation> cancel) override;
  const provider_settings& settings() const { return *s_; }

 private:
  std::shared_ptr<const provider_settings> s_;
  std::shared_ptr<const protocol> protocol_;
  std::shared_ptr<httpc::client> client_;
};

/// The error for a transport failure of the HTTP client (timeouts, refused, reset, TLS); pure.
proto::error_info transport_error(std::string_view provider, const error_code& ec, bool got_response);

/// The delay before retry `attempt` (1-based): Retry-After when given (capped), else exponential
/// backoff from `base_ms` with full jitter in [half, whole]. `unit` is a random number in [0, 1).
std::int64_t retry_delay_ms(int attempt, std::int64_t base_ms, std::int64_t max_ms,
                            std::optional<std::int64_t> retry_after, double unit);

}  // namespace sg::provider
