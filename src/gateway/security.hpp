// Who is calling (JWT), whether their browser origin may, and whether they may administer.
#pragma once

#include "auth/jwt.hpp"
#include "core/http_message.hpp"
#include "core/config.hpp"
#include "core/net_address.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::gateway {

struct principal {
  std::string sub;  // the token's sub; "anon:<hash of the anonymous key>" when anonymous
  bool admin = false;
  bool authenticated = false;
  /// The owner of what this caller creates: the token's sub, or the anonymous identity.
  const std::string& owner() const { return sub; }
  /// Whether this caller may resume, read or cancel a stream owned by `stream_owner`. A signed-in caller
  /// must own it. An anonymous caller needs only its id: the id (96 random bits) is the capability, so a
  /// program without cookies can resume from a new connection; ids are shown to their owner only.
  bool may_use_stream(const std::string& stream_owner) const { return may_use_stream(authenticated, sub, stream_owner); }
  static bool may_use_stream(bool authenticated, const std::string& sub, const std::string& stream_owner) {
    return !authenticated || stream_owner == sub;
  }
  /// Whose rate limits and stream quotas this caller's work counts against: its sub when signed in;
  /// when anonymous, its address's key (anonymous identities cost nothing to mint).
  std::string limit_key(std::string_view address_key) const { return limit_key(authenticated, sub, address_key); }
  static std::string limit_key(bool authenticated, std::string_view sub, std::string_view address_key) {
    return authenticated ? "user:" + std::string(sub) : "ip:" + std::string(address_key);
  }
};

/// Thread-safe; keys are swapped atomically on reload.
class security {
 public:
  /// Loads keys from the configuration; throws std::invalid_argument on a bad setup.
  explicit security(const core::config& cfg);

  bool auth_enabled() const { return enabled_; }
  /// Re-reads key files (SIGHUP). On failure the old keys stay and the error is returned.
  result<void, std::string> reload();

  struct auth_result {
    std::optional<principal> who;  // empty: refuse with 401 (or 400 when bad_request)
    std::string error;             // why (logged, never sent)
    bool bearer_subprotocol = false;  // the token came in Sec-WebSocket-Protocol: echo "bearer"
    bool bad_request = false;         // a malformed anonymous key header: refuse with 400
    std::string issued_key;           // a fresh anonymous key: send it as the cookie with the answer
  };
  /// Finds and verifies the token of a request: Authorization: Bearer, Sec-WebSocket-Protocol
  /// "bearer, <token>", ?token=, or the sg_token cookie. Without auth, everyone is anonymous with
  /// the identity of anonymous_caller().
  auth_result authenticate(const http::request<http::string_body>& req, const std::string* query_token) const;

  /// Without auth: the caller's anonymous identity, from the X-Streamgate-Anonymous-Key header (a
  /// program's) or the sg_anon cookie (a browser's). With neither, a fresh key, returned in
  /// `issued_key`: a caller that keeps no cookie is a new identity on every request.
  auth_result anonymous_caller(const http::request<http::string_body>& req) const;

  /// Called once the listener is bound: the default allowed hosts carry the real port.
  void set_listen_address(const std::string& host, unsigned port, bool tls);
  /// True when the request's Host header names this server (DNS rebinding protection).
  bool host_allowed(const http::request<http::string_body>& req) const;
  const core::host_allowlist& allowed_hosts() const { return hosts_; }
  /// The proxies whose forwarding headers are believed.
  const std::vector<core::cidr>& trusted_proxies() const { return trusted_proxies_; }

  /// True when the request has no Origin (not a browser), or one the configuration allows.
  bool origin_allowed(const http::request<http::string_body>& req) const;
  /// The Access-Control-Allow-Origin value for this request, if any.
  std::optional<std::string> cors_origin(const http::request<http::string_body>& req) const;

  /// The management API: the admin key (configured, or generated at start-up) or an admin token.
  /// Where the request comes from never matters: behind a proxy on the same host, everyone is loopback.
  bool admin_allowed(const http::request<http::string_body>& req, const principal& who) const;

 private:
  std::shared_ptr<const auth::verifier> load() const;

  const core::config& cfg_;
  bool enabled_ = false;
  std::vector<std::string> origins_;
  bool any_origin_ = false;
  core::host_allowlist hosts_;
  std::vector<core::cidr> trusted_proxies_;
  std::atomic<std::shared_ptr<const auth::verifier>> verifier_;  // replaced whole on reload
};

}  // namespace sg::gateway
