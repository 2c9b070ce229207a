// Who is calling (JWT), whether their browser origin may, and whether they may administer.
#pragma once

#include "auth/jwt.hpp"
#include "core/asio.hpp"
#include "core/config.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace sg::gateway {

struct principal {
  std::string sub;  // empty when anonymous
  bool admin = false;
  bool authenticated = false;
  /// The owner of what this caller creates: the token's sub, or "" in anonymous mode.
  const std::string& owner() const { return sub; }
};

/// Thread-safe; keys are swapped atomically on reload.
class security {
 public:
  /// Loads keys from the configuration; throws std::invalid_argument on a bad setup.
  explicit security(const core::config& cfg);

  bool auth_enabled() const { return enabled_; }
  /// Re-reads key files (SIGHUP). On failure the old keys stay and the error is returned.
  std::optional<std::string> reload();

  struct auth_result {
    std::optional<principal> who;  // empty: refuse with 401
    std::string error;             // why (logged, never sent)
    bool bearer_subprotocol = false;  // the token came in Sec-WebSocket-Protocol: echo "bearer"
  };
  /// Finds and verifies the token of a request: Authorization: Bearer, Sec-WebSocket-Protocol
  /// "bearer, <token>", ?token=, or the sg_token cookie. Without auth, everyone is anonymous.
  auth_result authenticate(const http::request<http::string_body>& req, const std::string* query_token) const;

  /// True when the request has no Origin (not a browser), or one the configuration allows.
  bool origin_allowed(const http::request<http::string_body>& req) const;
  /// The Access-Control-Allow-Origin value for this request, if any.
  std::optional<std::string> cors_origin(const http::request<http::string_body>& req) const;

  /// The management API: the admin key, an admin token, or (no key, no auth) a loopback client.
  bool admin_allowed(const http::request<http::string_body>& req, const principal& who,
                     const std::string& source_ip) const;

 private:
  std::shared_ptr<const auth::verifier> load() const;

  const core::config& cfg_;
  bool enabled_ = false;
  std::vector<std::string> origins_;
  bool any_origin_ = false;
  std::shared_ptr<const auth::verifier> verifier_;  // read and swapped with std::atomic_load/store
};

}  // namespace sg::gateway
