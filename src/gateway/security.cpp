// Authentication and origin policy, kept out of the sessions so every route applies the same rules.
#include "gateway/security.hpp"

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

bool is_loopback(const std::string& ip) {
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

}  // namespace

security::security(const core::config& cfg) : cfg_(cfg) {
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

std::optional<std::string> security::reload() {
  if (!enabled_) return std::nullopt;
  try {
    std::atomic_store(&verifier_, load());
    return std::nullopt;
  } catch (const std::exception& e) {
    return std::string(e.what());
  }
}

security::auth_result security::authenticate(const http::request<http::string_body>& req,
                                             const std::string* query_token) const {
  auth_result r;
  if (!enabled_) {
    r.who = principal{};
    return r;
  }
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
  auto v = std::atomic_load(&verifier_);
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto res = v->verify(token, now);
  if (!res.ok) {
    r.error = res.error;
    return r;
  }
  r.who = principal{res.ok->sub, res.ok->admin, true};
  return r;
}

bool security::origin_allowed(const http::request<http::string_body>& req) const {
  auto origin = req[http::field::origin];
  if (origin.empty() || any_origin_) return true;
  for (auto& o : origins_)
    if (origin == o) return true;
  // Same origin: the page was served by this host.
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

bool security::admin_allowed(const http::request<http::string_body>& req, const principal& who,
                             const std::string& source_ip) const {
  if (!cfg_.admin_key.empty()) {
    auto key = req["X-Admin-Key"];
    if (key.size() == cfg_.admin_key.size() && CRYPTO_memcmp(key.data(), cfg_.admin_key.data(), key.size()) == 0)
      return true;
  }
  if (who.authenticated && who.admin) return true;
  return cfg_.admin_key.empty() && !enabled_ && is_loopback(source_ip);
}

}  // namespace sg::gateway
