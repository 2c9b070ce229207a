// JWT verification with the algorithm fixed by configuration, never taken from the token.
#pragma once

#include "core/result.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace boost::json {
class object;
}

namespace sg::auth {

enum class algorithm { hs256, hs384, hs512, rs256, rs384, rs512, es256, es384 };

/// Parses "HS256" … "ES384"; nullopt for anything else (including "none").
std::optional<algorithm> parse_algorithm(std::string_view name);
std::string_view to_string(algorithm a);


class key_set;

struct verifier_config {
  algorithm alg = algorithm::hs256;
  std::string secret;           // HS*: the shared secret
  std::string public_key_pem;   // RS*/ES*: one PEM public key …
  std::string jwks_json;        // … or a JWKS document (keys chosen by "kid")
  std::string issuer;           // required "iss" when not empty
  std::string audience;         // required in "aud" when not empty
  std::int64_t leeway_s = 60;   // negative counts as 0
  /// "NAME=VALUE": a token is admin when claim NAME is the string VALUE, an array holding it,
  /// or `true` when VALUE is "true". Empty: no token is ever admin.
  std::string admin_claim;
};

struct claims {
  std::string sub;
  bool admin = false;  // only through verifier_config::admin_claim
  std::int64_t exp = 0;
};

/// Why a token was refused (for logs; clients get a generic message). `message()` says it in words.
enum class token_error {
  not_compact_jws = 1,
  bad_base64url,
  bad_header,
  bad_payload,
  algorithm_mismatch,
  unsupported_crit,
  hmac_failed,
  bad_signature,
  bad_signature_length,
  missing_exp,
  bad_exp,
  expired,
  bad_nbf,
  not_yet_valid,
  wrong_issuer,
  wrong_audience,
  missing_sub,
};
const boost::system::error_category& token_category();
boost::system::error_code make_error_code(token_error e);

/// Verifies tokens against one configuration. Immutable after construction: thread-safe.
class verifier {
 public:
  /// Loads the keys; throws std::invalid_argument when none fits the algorithm or the admin
  /// claim is malformed. JWKS keys that do not fit (type, size, curve, use, alg, key_ops) are skipped.
  explicit verifier(const verifier_config& cfg);
  ~verifier();
  result<claims> verify(std::string_view token, std::int64_t now_s) const;
  algorithm alg() const { return cfg_.alg; }

 private:
  verifier_config cfg_;
  std::unique_ptr<key_set> keys_;
  std::string admin_name_, admin_value_;  // admin_claim split at its first '='
  // The steps of verify(); each returns a null code when the token passes it, else why it does not.
  boost::system::error_code check_signature(const boost::json::object& header, std::string_view signing_input,
                                            std::string_view sig) const;
  boost::system::error_code check_asymmetric(const boost::json::object& header, std::string_view signing_input,
                                             std::string_view sig) const;
  result<claims> check_claims(const boost::json::object& payload, std::int64_t now_s) const;
};

}  // namespace sg::auth

template <>
struct boost::system::is_error_code_enum<sg::auth::token_error> : std::true_type {};
