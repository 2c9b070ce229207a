// JOSE parsing by hand (it is only base64url and JSON); every signature check is OpenSSL's EVP.
#include "auth/jwt.hpp"
#include "core/base64.hpp"

#include <boost/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>

namespace sg::auth {
namespace {

struct pkey_free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;
struct md_ctx_free {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const { BIO_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const { BN_free(p); }
};
using bn_ptr = std::unique_ptr<BIGNUM, bn_free>;
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const { ECDSA_SIG_free(p); }
};
struct param_bld_free {
  void operator()(OSSL_PARAM_BLD* p) const { OSSL_PARAM_BLD_free(p); }
};
struct params_free {
  void operator()(OSSL_PARAM* p) const { OSSL_PARAM_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};

bool is_hmac(algorithm a) { return a == algorithm::hs256 || a == algorithm::hs384 || a == algorithm::hs512; }
bool is_rsa(algorithm a) { return a == algorithm::rs256 || a == algorithm::rs384 || a == algorithm::rs512; }

const EVP_MD* digest_of(algorithm a) {
  switch (a) {
    case algorithm::hs256: case algorithm::rs256: case algorithm::es256: return EVP_sha256();
    case algorithm::hs384: case algorithm::rs384: case algorithm::es384: return EVP_sha384();
    case algorithm::hs512: case algorithm::rs512: return EVP_sha512();
  }
  return EVP_sha256();
}

const char* curve_of(algorithm a) { return a == algorithm::es384 ? "P-384" : "P-256"; }
std::size_t ec_coord_len(algorithm a) { return a == algorithm::es384 ? 48 : 32; }

pkey_ptr load_pem(const std::string& pem) {
  std::unique_ptr<BIO, bio_free> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  pkey_ptr k(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!k) throw std::invalid_argument("auth: the public key is not a PEM public key");
  return k;
}

bn_ptr bn_from(std::string_view bytes) {
  return bn_ptr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()), nullptr));
}

pkey_ptr from_params(const char* type, OSSL_PARAM_BLD* bld) {
  std::unique_ptr<OSSL_PARAM, params_free> params(OSSL_PARAM_BLD_to_param(bld));
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) <= 0 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) <= 0)
    return nullptr;
  return pkey_ptr(raw);
}

std::string jwk_str(const boost::json::object& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->value().is_string() ? std::string(it->value().get_string()) : std::string();
}

// An RSA or EC public key from one JWK; null if it does not fit `alg`.
pkey_ptr key_from_jwk(const boost::json::object& jwk, algorithm alg) {
  auto kty = jwk_str(jwk, "kty");
  std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld(OSSL_PARAM_BLD_new());
  if (is_rsa(alg) && kty == "RSA") {
    auto n = core::base64url_decode(jwk_str(jwk, "n"));
    auto e = core::base64url_decode(jwk_str(jwk, "e"));
    if (!n || !e || n->empty() || e->empty()) return nullptr;
    auto bn_n = bn_from(*n), bn_e = bn_from(*e);
    if (!bld || !bn_n || !bn_e || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
        OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
      return nullptr;
    return from_params("RSA", bld.get());
  }
  if (!is_rsa(alg) && !is_hmac(alg) && kty == "EC" && jwk_str(jwk, "crv") == curve_of(alg)) {
    auto x = core::base64url_decode(jwk_str(jwk, "x"));
    auto y = core::base64url_decode(jwk_str(jwk, "y"));
    if (!x || !y || x->size() != ec_coord_len(alg) || y->size() != ec_coord_len(alg)) return nullptr;
    std::string point = "\x04" + *x + *y;  // uncompressed SEC1 point
    const char* group = alg == algorithm::es384 ? "P-384" : "P-256";
    if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
      return nullptr;
    return from_params("EC", bld.get());
  }
  return nullptr;
}

bool key_fits(EVP_PKEY* k, algorithm alg) {
  if (is_rsa(alg)) return EVP_PKEY_is_a(k, "RSA") && EVP_PKEY_get_bits(k) >= 2048;
  if (!EVP_PKEY_is_a(k, "EC")) return false;
  char group[64] = {};
  std::size_t len = 0;
  if (!EVP_PKEY_get_utf8_string_param(k, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &len)) return false;
  std::string g(group, len);
  return alg == algorithm::es384 ? g == "secp384r1" || g == "P-384" : g == "prime256v1" || g == "P-256";
}

// The JWK's own restrictions: a key published for encryption, for another algorithm, or without
// the "verify" operation must not verify our tokens, even if its type and curve fit.
bool jwk_allows(const boost::json::object& jwk, algorithm alg) {
  if (auto it = jwk.find("use"); it != jwk.end() && !(it->value().is_string() && it->value().get_string() == "sig"))
    return false;
  if (auto it = jwk.find("alg"); it != jwk.end() && !(it->value().is_string() && it->value().get_string() == to_string(alg)))
    return false;
  if (auto it = jwk.find("key_ops"); it != jwk.end()) {
    if (!it->value().is_array()) return false;
    bool verify = false;
    for (auto& op : it->value().get_array()) verify = verify || (op.is_string() && op.get_string() == "verify");
    if (!verify) return false;
  }
  return true;
}

enum class num_status { ok, missing, bad };

// A NumericDate as int64. Values outside int64 (a uint64 past INT64_MAX, 1e300, an infinity)
// are refused here, because converting them would be undefined behaviour.
num_status num_claim(const boost::json::object& o, const char* key, std::int64_t& out) {
  auto it = o.find(key);
  if (it == o.end()) return num_status::missing;
  const auto& v = it->value();
  if (v.is_int64()) {
    out = v.get_int64();
    return num_status::ok;
  }
  if (v.is_uint64()) {
    if (v.get_uint64() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return num_status::bad;
    out = static_cast<std::int64_t>(v.get_uint64());
    return num_status::ok;
  }
  if (v.is_double()) {
    double d = v.get_double();
    // -2^63 is exact as a double; 2^63 is the first value past the range.
    constexpr double lo = -9223372036854775808.0, hi = 9223372036854775808.0;
    if (!std::isfinite(d) || d < lo || d >= hi) return num_status::bad;
    out = static_cast<std::int64_t>(d);
    return num_status::ok;
  }
  return num_status::bad;
}

std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  std::int64_t r;
  if (!__builtin_add_overflow(a, b, &r)) return r;
  return b > 0 ? std::numeric_limits<std::int64_t>::max() : std::numeric_limits<std::int64_t>::min();
}

bool claim_has(const boost::json::value& v, std::string_view want) {
  if (v.is_string()) return v.get_string() == want;
  if (v.is_bool()) return want == "true" && v.get_bool();
  if (v.is_array())
    for (auto& item : v.get_array())
      if (item.is_string() && item.get_string() == want) return true;
  return false;
}

}  // namespace

// Every key is owned once, in `keys`; the kid index holds positions into it, so two JWKs with the
// same kid (or none) can never free a key another lookup still uses.
class key_set {
 public:
  std::string secret;
  std::vector<pkey_ptr> keys;
  std::multimap<std::string, std::size_t, std::less<>> by_kid;  // JWKS keys that have a kid
  std::optional<std::size_t> pem;                               // the --jwt-public-key key
};

std::optional<algorithm> parse_algorithm(std::string_view n) {
  if (n == "HS256") return algorithm::hs256;
  if (n == "HS384") return algorithm::hs384;
  if (n == "HS512") return algorithm::hs512;
  if (n == "RS256") return algorithm::rs256;
  if (n == "RS384") return algorithm::rs384;
  if (n == "RS512") return algorithm::rs512;
  if (n == "ES256") return algorithm::es256;
  if (n == "ES384") return algorithm::es384;
  return std::nullopt;
}

std::string_view to_string(algorithm a) {
  switch (a) {
    case algorithm::hs256: return "HS256";
    case algorithm::hs384: return "HS384";
    case algorithm::hs512: return "HS512";
    case algorithm::rs256: return "RS256";
    case algorithm::rs384: return "RS384";
    case algorithm::rs512: return "RS512";
    case algorithm::es256: return "ES256";
    case algorithm::es384: return "ES384";
  }
  return "HS256";
}

verifier::verifier(const verifier_config& cfg) : cfg_(cfg), keys_(std::make_unique<key_set>()) {
  if (!cfg.admin_claim.empty()) {
    auto eq = cfg.admin_claim.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == cfg.admin_claim.size())
      throw std::invalid_argument("auth: the admin claim must be NAME=VALUE, e.g. role=admin");
    admin_name_ = cfg.admin_claim.substr(0, eq);
    admin_value_ = cfg.admin_claim.substr(eq + 1);
  }
  if (cfg_.leeway_s < 0) cfg_.leeway_s = 0;
  if (is_hmac(cfg.alg)) {
    if (cfg.secret.size() < 32)
      throw std::invalid_argument("auth: an HS* secret must be at least 32 bytes");
    keys_->secret = cfg.secret;
    return;
  }
  if (!cfg.public_key_pem.empty()) {
    auto key = load_pem(cfg.public_key_pem);
    if (!key_fits(key.get(), cfg.alg))
      throw std::invalid_argument(std::string("auth: the public key does not fit ") + std::string(to_string(cfg.alg)));
    keys_->pem = keys_->keys.size();
    keys_->keys.push_back(std::move(key));
  }
  if (!cfg.jwks_json.empty()) {
    boost::json::error_code ec;
    auto doc = boost::json::parse(cfg.jwks_json, ec);
    if (ec || !doc.is_object() || !doc.as_object().contains("keys") || !doc.at("keys").is_array())
      throw std::invalid_argument("auth: the JWKS is not a JSON object with a keys array");
    for (auto& k : doc.at("keys").as_array()) {
      if (!k.is_object() || !jwk_allows(k.as_object(), cfg.alg)) continue;
      auto key = key_from_jwk(k.as_object(), cfg.alg);
      // Other types or curves are not for this algorithm; a weak or malformed key is not for any.
      if (!key || !key_fits(key.get(), cfg.alg)) continue;
      std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
      if (!check || EVP_PKEY_public_check(check.get()) != 1) continue;
      auto kid = k.as_object().find("kid");
      if (kid != k.as_object().end() && kid->value().is_string())
        keys_->by_kid.emplace(std::string(kid->value().get_string()), keys_->keys.size());
      keys_->keys.push_back(std::move(key));
    }
  }
  if (keys_->keys.empty())
    throw std::invalid_argument(std::string("auth: no public key for ") + std::string(to_string(cfg.alg)));
}

verifier::~verifier() = default;

namespace {
class token_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "jwt"; }
  std::string message(int ev) const override {
    switch (static_cast<token_error>(ev)) {
      case token_error::not_compact_jws: return "not a compact JWS";
      case token_error::bad_base64url: return "bad base64url";
      case token_error::bad_header: return "bad header";
      case token_error::bad_payload: return "bad payload";
      case token_error::algorithm_mismatch: return "algorithm mismatch";
      case token_error::unsupported_crit: return "unsupported crit header";
      case token_error::hmac_failed: return "hmac failed";
      case token_error::bad_signature: return "bad signature";
      case token_error::bad_signature_length: return "bad signature length";
      case token_error::missing_exp: return "missing exp";
      case token_error::bad_exp: return "bad exp";
      case token_error::expired: return "expired";
      case token_error::bad_nbf: return "bad nbf";
      case token_error::not_yet_valid: return "not yet valid";
      case token_error::wrong_issuer: return "wrong issuer";
      case token_error::wrong_audience: return "wrong audience";
      case token_error::missing_sub: return "missing sub";
    }
    return "refused";
  }
};
}  // namespace

const boost::system::error_category& token_category() {
  static const token_category_impl category;
  return category;
}

boost::system::error_code make_error_code(token_error e) { return {static_cast<int>(e), token_category()}; }

result<claims> verifier::verify(std::string_view token, std::int64_t now_s) const {
  auto d1 = token.find('.');
  auto d2 = d1 == std::string_view::npos ? d1 : token.find('.', d1 + 1);
  if (d2 == std::string_view::npos || token.find('.', d2 + 1) != std::string_view::npos)
    return token_error::not_compact_jws;
  auto header_raw = core::base64url_decode(token.substr(0, d1));
  auto payload_raw = core::base64url_decode(token.substr(d1 + 1, d2 - d1 - 1));
  auto sig = core::base64url_decode(token.substr(d2 + 1));
  if (!header_raw || !payload_raw || !sig) return token_error::bad_base64url;
  boost::json::error_code ec;
  auto header = boost::json::parse(*header_raw, ec);
  if (ec || !header.is_object()) return token_error::bad_header;
  if (auto why = check_signature(header.as_object(), token.substr(0, d2), *sig)) return why;
  auto payload = boost::json::parse(*payload_raw, ec);
  if (ec || !payload.is_object()) return token_error::bad_payload;
  return check_claims(payload.as_object(), now_s);
}

boost::system::error_code verifier::check_signature(const boost::json::object& h, std::string_view signing_input,
                                                    std::string_view sig) const {
  auto alg_it = h.find("alg");
  // The configured algorithm decides; a token naming another (or "none") is refused outright.
  if (alg_it == h.end() || !alg_it->value().is_string() || alg_it->value().get_string() != to_string(cfg_.alg))
    return token_error::algorithm_mismatch;
  if (h.contains("crit")) return token_error::unsupported_crit;
  if (!is_hmac(cfg_.alg)) return check_asymmetric(h, signing_input, sig);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  // A failed HMAC leaves len at 0, which an empty signature would match: fail closed instead.
  if (!HMAC(digest_of(cfg_.alg), keys_->secret.data(), static_cast<int>(keys_->secret.size()),
            reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &len) ||
      len == 0)
    return token_error::hmac_failed;
  if (sig.size() != len || CRYPTO_memcmp(mac, sig.data(), len) != 0) return token_error::bad_signature;
  return {};
}

namespace {
// JWS carries an ECDSA signature as r||s of n bytes each; OpenSSL verifies DER.
std::optional<std::string> ecdsa_der(std::string_view sig, std::size_t n) {
  if (sig.size() != 2 * n) return std::nullopt;
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> es(ECDSA_SIG_new());
  auto rr = bn_from(sig.substr(0, n)), ss = bn_from(sig.substr(n));
  if (!es || !rr || !ss || ECDSA_SIG_set0(es.get(), rr.get(), ss.get()) != 1) return std::nullopt;
  (void)rr.release();  // owned by `es` now
  (void)ss.release();
  unsigned char* out = nullptr;
  int len = i2d_ECDSA_SIG(es.get(), &out);
  if (len <= 0) return std::nullopt;
  std::string der(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
  OPENSSL_free(out);
  return der;
}
}  // namespace

boost::system::error_code verifier::check_asymmetric(const boost::json::object& h, std::string_view signing_input,
                                                     std::string_view sig) const {
  // A token naming a kid is checked against the JWKS keys with that kid (and the PEM key);
  // without a kid, or when no JWK names one, every key is tried.
  std::vector<EVP_PKEY*> candidates;
  auto kid_it = h.find("kid");
  if (kid_it != h.end() && kid_it->value().is_string() && !keys_->by_kid.empty()) {
    auto [first, last] = keys_->by_kid.equal_range(std::string_view(kid_it->value().get_string()));
    for (auto it = first; it != last; ++it) candidates.push_back(keys_->keys[it->second].get());
    if (keys_->pem) candidates.push_back(keys_->keys[*keys_->pem].get());
  } else {
    for (auto& k : keys_->keys) candidates.push_back(k.get());
  }
  std::optional<std::string> der;
  if (!is_rsa(cfg_.alg)) {
    auto n = ec_coord_len(cfg_.alg);
    if (sig.size() != 2 * n) return token_error::bad_signature_length;
    if (!(der = ecdsa_der(sig, n))) return token_error::bad_signature;
    sig = *der;
  }
  for (auto* key : candidates) {
    std::unique_ptr<EVP_MD_CTX, md_ctx_free> ctx(EVP_MD_CTX_new());
    if (EVP_DigestVerifyInit(ctx.get(), nullptr, digest_of(cfg_.alg), nullptr, key) != 1) continue;
    if (EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig.data()), sig.size(),
                         reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) == 1)
      return {};
  }
  return token_error::bad_signature;
}

result<claims> verifier::check_claims(const boost::json::object& p, std::int64_t now_s) const {
  claims out;
  std::int64_t exp = 0, nbf = 0;
  switch (num_claim(p, "exp", exp)) {
    case num_status::missing: return token_error::missing_exp;
    case num_status::bad: return token_error::bad_exp;
    case num_status::ok: break;
  }
  // Saturating sums: an exp near INT64_MAX plus the leeway must not wrap into the past.
  if (now_s > saturating_add(exp, cfg_.leeway_s)) return token_error::expired;
  switch (num_claim(p, "nbf", nbf)) {
    case num_status::missing: break;
    case num_status::bad: return token_error::bad_nbf;
    case num_status::ok:
      if (saturating_add(now_s, cfg_.leeway_s) < nbf) return token_error::not_yet_valid;
  }
  if (!cfg_.issuer.empty()) {
    auto it = p.find("iss");
    if (it == p.end() || !it->value().is_string() || it->value().get_string() != cfg_.issuer) return token_error::wrong_issuer;
  }
  if (!cfg_.audience.empty()) {
    bool match = false;
    if (auto it = p.find("aud"); it != p.end()) {
      if (it->value().is_string()) match = it->value().get_string() == cfg_.audience;
      if (it->value().is_array())
        for (auto& a : it->value().get_array()) match = match || (a.is_string() && a.get_string() == cfg_.audience);
    }
    if (!match) return token_error::wrong_audience;
  }
  auto sub = p.find("sub");
  if (sub == p.end() || !sub->value().is_string() || sub->value().get_string().empty() ||
      sub->value().get_string().size() > 256)
    return token_error::missing_sub;
  out.sub = std::string(sub->value().get_string());
  out.exp = exp;
  if (!admin_name_.empty())
    if (auto a = p.find(admin_name_); a != p.end()) out.admin = claim_has(a->value(), admin_value_);
  return out;
}

}  // namespace sg::auth
