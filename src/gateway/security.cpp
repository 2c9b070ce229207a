// Authentication and origin policy, kept out of the sessions so every route applies the same rules.
#include "gateway/security.hpp"

#include "gateway/anonymous.hpp"

#include <openssl/crypto.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace sg::gateway {
namespace {

std::string read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument(std::string("auth: cannot read ") + what + " " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

}  // namespace

security::security(const core::config& cfg)
    : cfg_(cfg),
      hosts_(cfg.allowed_hosts, cfg.listen_host, cfg.listen_port, cfg.tls_cert.empty() ? 80 : 443),
      trusted_proxies_(core::parse_cidr_list(cfg.trusted_proxies, "trusted-proxies")) {
  if (cfg.auth == "jwt") {
    enabled_ = true;
    verifier_ = load();
  } else if (cfg.auth != "none") {
    throw std::invalid_argument("--auth must be none or jwt");
  }
  std::string_view list = cfg.allowed_origins;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = trim(list.substr(0, comma));
    if (item == "*") any_origin_ = true;
    else if (!item.empty()) origins_.emplace_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
}

std::shared_ptr<const auth::verifier> security::load() const {
  auto alg = auth::parse_algorithm(cfg_.jwt_algorithm);
  if (!alg) throw std::invalid_argument("--jwt-algorithm must be one of HS256/384/512, RS256/384/512, ES256/384");
  auth::verifier_config vc;
  vc.alg = *alg;
  vc.secret = cfg_.jwt_secret;
  if (!cfg_.jwt_secret_file.empty()) vc.secret = std::string(trim(read_file(cfg_.jwt_secret_file, "the secret file")));
  if (!cfg_.jwt_public_key.empty()) vc.public_key_pem = read_file(cfg_.jwt_public_key, "the public key");
  if (!cfg_.jwt_jwks.empty()) vc.jwks_json = read_file(cfg_.jwt_jwks, "the JWKS");
  vc.issuer = cfg_.jwt_issuer;
  vc.audience = cfg_.jwt_audience;
  vc.leeway_s = cfg_.jwt_leeway_s;
  vc.admin_claim = cfg_.jwt_admin_claim;
  return std::make_shared<const auth::verifier>(vc);
}

result<void, std::string> security::reload() {
  if (!enabled_) return {};
  // The keys are loaded by the start-up code, which throws; the reload turns that into its result.
  try {
    verifier_.store(load());
    return {};
  } catch (const std::exception& e) {
    return {boost::system::in_place_error, e.what()};
  }
}

security::auth_result security::authenticate(const http::request<http::string_body>& req,
                                             const std::string* query_token) const {
  if (!enabled_) return anonymous_caller(req);
  auth_result r;
  std::string token;
  auto authz = req[http::field::authorization];
  if (authz.size() > 7 && (authz.substr(0, 7) == "Bearer " || authz.substr(0, 7) == "bearer ")) {
    token = trim(authz.substr(7));
  }
  if (token.empty()) {
    // Browsers cannot set headers on a WebSocket: "bearer, <token>" as the subprotocol list.
    auto proto = req[http::field::sec_websocket_protocol];
    auto comma = proto.find(',');
    if (comma != std::string_view::npos && trim(proto.substr(0, comma)) == "bearer") {
      token = trim(proto.substr(comma + 1));
      r.bearer_subprotocol = true;
    }
  }
  if (token.empty() && query_token) token = *query_token;
  if (token.empty()) {
    std::string_view cookies = req[http::field::cookie];
    for (std::size_t pos = 0; pos < cookies.size();) {
      auto semi = cookies.find(';', pos);
      auto item = trim(cookies.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos));
      if (item.rfind("sg_token=", 0) == 0) token = item.substr(9);
      if (semi == std::string_view::npos) break;
      pos = semi + 1;
    }
  }
  if (token.empty()) {
    r.error = "no token";
    return r;
  }
  auto v = verifier_.load();
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto res = v->verify(token, now);
  if (!res) {
    r.error = res.error().message();
    return r;
  }
  r.who = principal{res->sub, res->admin, true};
  return r;
}

security::auth_result security::anonymous_caller(const http::request<http::string_body>& req) const {
  auth_result r;
  if (auto it = req.find(anonymous::header_name); it != req.end()) {
    auto key = trim(it->value());
    if (!anonymous::valid_key(key)) {
      r.bad_request = true;
      r.error = std::string(anonymous::header_name) + " must be 22 to 128 characters of A-Z a-z 0-9 - _";
      return r;
    }
    r.who = principal{anonymous::owner_of(key), false, false};
    return r;
  }
  // A cookie that is not a key (edited, or from another program on this host) is replaced.
  auto cookie = anonymous::cookie_value(req[http::field::cookie], anonymous::cookie_name);
  if (cookie && anonymous::valid_key(*cookie)) {
    r.who = principal{anonymous::owner_of(*cookie), false, false};
    return r;
  }
  r.issued_key = anonymous::new_key();
  r.who = principal{anonymous::owner_of(r.issued_key), false, false};
  return r;
}

void security::set_listen_address(const std::string& host, unsigned port, bool tls) {
  hosts_ = core::host_allowlist(cfg_.allowed_hosts, host, port, tls ? 443 : 80);
}

bool security::host_allowed(const http::request<http::string_body>& req) const {
  auto host = req[http::field::host];
  return !host.empty() && hosts_.allowed(host);
}

bool security::origin_allowed(const http::request<http::string_body>& req) const {
  auto origin = req[http::field::origin];
  if (origin.empty() || any_origin_) return true;
  for (auto& o : origins_)
    if (origin == o) return true;
  // Same origin: the page was served by this host. Safe because the Host header was checked
  // against --allowed-hosts first: a rebound DNS name never gets this far.
  auto host = req[http::field::host];
  if (host.empty()) return false;
  std::string h(host);
  return origin == "http://" + h || origin == "https://" + h;
}

std::optional<std::string> security::cors_origin(const http::request<http::string_body>& req) const {
  auto origin = req[http::field::origin];
  if (origin.empty() || !origin_allowed(req)) return std::nullopt;
  return std::string(origin);
}

bool security::admin_allowed(const http::request<http::string_body>& req, const principal& who) const {
  if (!cfg_.admin_key.empty()) {
    auto key = req["X-Admin-Key"];
    if (key.size() == cfg_.admin_key.size() && CRYPTO_memcmp(key.data(), cfg_.admin_key.data(), key.size()) == 0)
      return true;
  }
  return who.authenticated && who.admin;
}

}  // namespace sg::gateway
