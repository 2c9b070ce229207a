// JWT verification: every algorithm, every refusal (expired, early, wrong key/issuer/audience, none, confusion).
#include "auth/jwt.hpp"
#include "core/base64.hpp"
#include "support/jwt_signer.hpp"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <limits>

namespace sg::auth {
namespace {

using test::claims_for;
using test::sign_jwt;
using test::test_key;
using test::unix_now;

const std::string secret = "0123456789abcdef0123456789abcdef-secret";

verifier_config hs(algorithm a) {
  verifier_config c;
  c.alg = a;
  c.secret = secret;
  return c;
}

TEST(Base64Url, RoundTripsAndRejectsJunk) {
  for (std::string s : std::vector<std::string>{"", "f", "fo", "foo", "foob", "fooba", "foobar", std::string("\xff\x00\x10", 3)})
    EXPECT_EQ(core::base64url_decode(core::base64url_encode(s)), s);
  EXPECT_EQ(core::base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(core::base64url_decode("a+b/"));
  EXPECT_FALSE(core::base64url_decode("a"));
  EXPECT_EQ(core::base64url_decode("Zm8="), "fo");
}

TEST(Jwt, HmacAlgorithms) {
  for (auto [name, alg] : {std::pair{"HS256", algorithm::hs256}, {"HS384", algorithm::hs384}, {"HS512", algorithm::hs512}}) {
    verifier v(hs(alg));
    auto r = v.verify(sign_jwt(name, claims_for("alice"), secret), unix_now());
    ASSERT_TRUE(r.has_value()) << name << ": " << r.error().message();
    EXPECT_EQ(r->sub, "alice");
    EXPECT_FALSE(v.verify(sign_jwt(name, claims_for("alice"), secret + "x"), unix_now()).has_value()) << name;
  }
}

TEST(Jwt, RsaAndEcAlgorithmsWithPemKeys) {
  auto rsa = test_key::rsa();
  auto p256 = test_key::ec("P-256");
  auto p384 = test_key::ec("P-384");
  struct c {
    const char* name;
    algorithm alg;
    test_key* key;
  } cases[] = {{"RS256", algorithm::rs256, &rsa}, {"RS384", algorithm::rs384, &rsa}, {"RS512", algorithm::rs512, &rsa},
               {"ES256", algorithm::es256, &p256}, {"ES384", algorithm::es384, &p384}};
  for (auto& k : cases) {
    verifier_config cfg;
    cfg.alg = k.alg;
    cfg.public_key_pem = k.key->public_pem();
    verifier v(cfg);
    auto r = v.verify(sign_jwt(k.name, claims_for("bob"), {}, k.key), unix_now());
    ASSERT_TRUE(r.has_value()) << k.name << ": " << r.error().message();
    EXPECT_EQ(r->sub, "bob");
    // Signed by another key of the same kind: refused.
    auto other = k.alg == algorithm::es384 ? test_key::ec("P-384") : k.alg == algorithm::es256 ? test_key::ec("P-256") : test_key::rsa();
    EXPECT_EQ(v.verify(sign_jwt(k.name, claims_for("bob"), {}, &other), unix_now()).error().message(), "bad signature") << k.name;
  }
}

TEST(Jwt, JwksChoosesKeyByKid) {
  auto k1 = test_key::rsa(), k2 = test_key::rsa();
  boost::json::object jwks{{"keys", boost::json::array{k1.jwk("one"), k2.jwk("two"), test_key::ec("P-256").jwk("ec")}}};
  verifier_config cfg;
  cfg.alg = algorithm::rs256;
  cfg.jwks_json = boost::json::serialize(jwks);
  verifier v(cfg);
  EXPECT_TRUE(v.verify(sign_jwt("RS256", claims_for("c"), {}, &k2, "two"), unix_now()).has_value());
  EXPECT_TRUE(v.verify(sign_jwt("RS256", claims_for("c"), {}, &k1, "one"), unix_now()).has_value());
  EXPECT_FALSE(v.verify(sign_jwt("RS256", claims_for("c"), {}, &k1, "two"), unix_now()).has_value());

  auto e = test_key::ec("P-256");
  verifier_config ec_cfg;
  ec_cfg.alg = algorithm::es256;
  ec_cfg.jwks_json = boost::json::serialize(boost::json::object{{"keys", boost::json::array{e.jwk("e1")}}});
  EXPECT_TRUE(verifier(ec_cfg).verify(sign_jwt("ES256", claims_for("d"), {}, &e, "e1"), unix_now()).has_value());
}

TEST(Jwt, TimeClaims) {
  verifier v(hs(algorithm::hs256));
  auto now = unix_now();
  auto expired = claims_for("a", -120);  // past the 60 s leeway
  EXPECT_EQ(v.verify(sign_jwt("HS256", expired, secret), now).error().message(), "expired");
  auto within_leeway = claims_for("a", -30);
  EXPECT_TRUE(v.verify(sign_jwt("HS256", within_leeway, secret), now).has_value());
  auto early = claims_for("a");
  early["nbf"] = now + 600;
  EXPECT_EQ(v.verify(sign_jwt("HS256", early, secret), now).error().message(), "not yet valid");
  boost::json::object no_exp{{"sub", "a"}};
  EXPECT_EQ(v.verify(sign_jwt("HS256", no_exp, secret), now).error().message(), "missing exp");
  boost::json::object no_sub{{"exp", now + 100}};
  EXPECT_EQ(v.verify(sign_jwt("HS256", no_sub, secret), now).error().message(), "missing sub");
}

TEST(Jwt, IssuerAndAudience) {
  auto cfg = hs(algorithm::hs256);
  cfg.issuer = "https://issuer.example";
  cfg.audience = "streamgate";
  verifier v(cfg);
  auto c = claims_for("a");
  c["iss"] = "https://issuer.example";
  c["aud"] = boost::json::array{"other", "streamgate"};
  EXPECT_TRUE(v.verify(sign_jwt("HS256", c, secret), unix_now()).has_value());
  c["aud"] = "other";
  EXPECT_EQ(v.verify(sign_jwt("HS256", c, secret), unix_now()).error().message(), "wrong audience");
  c["aud"] = "streamgate";
  c["iss"] = "https://evil.example";
  EXPECT_EQ(v.verify(sign_jwt("HS256", c, secret), unix_now()).error().message(), "wrong issuer");
}

TEST(Jwt, AlgNoneAndAlgorithmConfusionAreRefused) {
  verifier v(hs(algorithm::hs256));
  EXPECT_EQ(v.verify(sign_jwt("none", claims_for("a")), unix_now()).error().message(), "algorithm mismatch");
  EXPECT_EQ(v.verify(sign_jwt("HS512", claims_for("a"), secret), unix_now()).error().message(), "algorithm mismatch");

  // RS256 configured; an attacker signs HS256 with the public key as the HMAC secret.
  auto rsa = test_key::rsa();
  verifier_config cfg;
  cfg.alg = algorithm::rs256;
  cfg.public_key_pem = rsa.public_pem();
  verifier rv(cfg);
  auto forged = sign_jwt("HS256", claims_for("mallory"), rsa.public_pem());
  EXPECT_EQ(rv.verify(forged, unix_now()).error().message(), "algorithm mismatch");
  EXPECT_EQ(rv.verify(sign_jwt("none", claims_for("a")), unix_now()).error().message(), "algorithm mismatch");
}

TEST(Jwt, MalformedTokens) {
  verifier v(hs(algorithm::hs256));
  for (std::string t : std::vector<std::string>{"", "a", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.", "bm90IGpzb24.e30.AA"})
    EXPECT_FALSE(v.verify(t, unix_now()).has_value()) << t;
  auto good = sign_jwt("HS256", claims_for("a"), secret);
  auto tampered = good;
  tampered[good.find('.') + 3] ^= 1;
  EXPECT_FALSE(v.verify(tampered, unix_now()).has_value());
}

TEST(Jwt, AdminOnlyThroughTheConfiguredClaim) {
  auto token = [](std::initializer_list<std::pair<boost::json::string_view, boost::json::value>> extra) {
    auto c = claims_for("root");
    for (auto& [k, v] : extra) c[k] = v;
    return sign_jwt("HS256", c, secret);
  };
  auto is_admin = [](const verifier& v, const std::string& t) {
    auto r = v.verify(t, unix_now());
    EXPECT_TRUE(r.has_value()) << r.error().message();
    return r.has_value() && r->admin;
  };
  // Nothing configured: the claims that used to grant admin grant nothing.
  verifier none(hs(algorithm::hs256));
  EXPECT_FALSE(is_admin(none, token({{"admin", true}})));
  EXPECT_FALSE(is_admin(none, token({{"role", "admin"}})));
  EXPECT_FALSE(is_admin(none, token({{"roles", boost::json::array{"user", "admin"}}})));

  auto cfg = hs(algorithm::hs256);
  cfg.admin_claim = "role=admin";
  verifier role(cfg);
  EXPECT_TRUE(is_admin(role, token({{"role", "admin"}})));
  EXPECT_TRUE(is_admin(role, token({{"role", boost::json::array{"user", "admin"}}})));
  EXPECT_FALSE(is_admin(role, token({{"role", "Admin"}})));
  EXPECT_FALSE(is_admin(role, token({{"role", "administrator"}})));
  EXPECT_FALSE(is_admin(role, token({{"role", boost::json::array{"user"}}})));
  EXPECT_FALSE(is_admin(role, token({{"role", boost::json::object{{"admin", true}}}})));
  EXPECT_FALSE(is_admin(role, token({{"roles", "admin"}})));
  EXPECT_FALSE(is_admin(role, token({{"admin", true}})));

  cfg.admin_claim = "admin=true";
  verifier flag(cfg);
  EXPECT_TRUE(is_admin(flag, token({{"admin", true}})));
  EXPECT_FALSE(is_admin(flag, token({{"admin", false}})));
  EXPECT_FALSE(is_admin(flag, token({{"role", "admin"}})));

  // Namespaced claims (URLs, with dots) are matched by their whole name.
  cfg.admin_claim = "https://example.com/roles=ops";
  verifier ns(cfg);
  EXPECT_TRUE(is_admin(ns, token({{"https://example.com/roles", boost::json::array{"ops"}}})));
  EXPECT_FALSE(is_admin(ns, token({{"roles", boost::json::array{"ops"}}})));
}

TEST(Jwt, AdminClaimMustBeNameEqualsValue) {
  for (const char* bad : {"role", "=admin", "role=", "="}) {
    auto cfg = hs(algorithm::hs256);
    cfg.admin_claim = bad;
    EXPECT_THROW(verifier{cfg}, std::invalid_argument) << bad;
  }
}

TEST(Jwt, BadConfigurationIsRefusedAtStart) {
  EXPECT_THROW(verifier(verifier_config{algorithm::hs256, "short", {}, {}, {}, {}, 60, {}}), std::invalid_argument);
  verifier_config ec_for_rsa;
  ec_for_rsa.alg = algorithm::rs256;
  ec_for_rsa.public_key_pem = test_key::ec("P-256").public_pem();
  EXPECT_THROW(verifier{ec_for_rsa}, std::invalid_argument);
  verifier_config small_rsa;
  small_rsa.alg = algorithm::rs256;
  small_rsa.public_key_pem = test_key::rsa(1024).public_pem();
  EXPECT_THROW(verifier{small_rsa}, std::invalid_argument);
  EXPECT_FALSE(parse_algorithm("none"));
}

// A JWKS document from JWK objects.
std::string jwks_of(std::initializer_list<boost::json::object> keys) {
  boost::json::array a;
  for (auto& k : keys) a.push_back(k);
  return boost::json::serialize(boost::json::object{{"keys", a}});
}

boost::json::object without_kid(boost::json::object jwk) {
  jwk.erase("kid");
  return jwk;
}

verifier_config jwks_config(algorithm a, std::string jwks) {
  verifier_config c;
  c.alg = a;
  c.jwks_json = std::move(jwks);
  return c;
}

// Two JWKs with one kid used to free the first key while the list of all keys still pointed at it;
// a token without a kid then verified against freed memory (ASan: heap-use-after-free).
TEST(Jwt, JwksWithDuplicateKidsKeepsEveryKeyAlive) {
  auto k1 = test_key::ec("P-256"), k2 = test_key::ec("P-256");
  verifier v(jwks_config(algorithm::es256, jwks_of({k1.jwk("dup"), k2.jwk("dup")})));
  for (auto* k : {&k1, &k2}) {
    auto no_kid = v.verify(sign_jwt("ES256", claims_for("a"), {}, k), unix_now());
    EXPECT_TRUE(no_kid.has_value()) << no_kid.error().message();
    auto with_kid = v.verify(sign_jwt("ES256", claims_for("a"), {}, k, "dup"), unix_now());
    EXPECT_TRUE(with_kid.has_value()) << with_kid.error().message();
  }
  auto stranger = test_key::ec("P-256");
  EXPECT_EQ(v.verify(sign_jwt("ES256", claims_for("a"), {}, &stranger), unix_now()).error().message(), "bad signature");
}

TEST(Jwt, JwksWithKeysWithoutKidKeepsEveryKeyAlive) {
  auto k1 = test_key::ec("P-256"), k2 = test_key::ec("P-256"), k3 = test_key::ec("P-256");
  verifier v(jwks_config(algorithm::es256, jwks_of({without_kid(k1.jwk("")), without_kid(k2.jwk("")), k3.jwk("three")})));
  for (auto* k : {&k1, &k2, &k3}) {
    auto r = v.verify(sign_jwt("ES256", claims_for("a"), {}, k), unix_now());
    EXPECT_TRUE(r.has_value()) << r.error().message();
  }
  // A token naming a kid is checked only against the keys with that kid.
  EXPECT_TRUE(v.verify(sign_jwt("ES256", claims_for("a"), {}, &k3, "three"), unix_now()).has_value());
  EXPECT_FALSE(v.verify(sign_jwt("ES256", claims_for("a"), {}, &k1, "three"), unix_now()).has_value());
}

TEST(Jwt, JwksRsaKeysUnder2048BitsAreSkipped) {
  auto weak = test_key::rsa(1024), strong = test_key::rsa(2048);
  EXPECT_THROW(verifier(jwks_config(algorithm::rs256, jwks_of({weak.jwk("weak")}))), std::invalid_argument);
  verifier v(jwks_config(algorithm::rs256, jwks_of({weak.jwk("weak"), strong.jwk("strong")})));
  EXPECT_FALSE(v.verify(sign_jwt("RS256", claims_for("a"), {}, &weak, "weak"), unix_now()).has_value());
  EXPECT_FALSE(v.verify(sign_jwt("RS256", claims_for("a"), {}, &weak), unix_now()).has_value());
  EXPECT_TRUE(v.verify(sign_jwt("RS256", claims_for("a"), {}, &strong, "strong"), unix_now()).has_value());
}

TEST(Jwt, JwksEcKeysMustBeOnTheConfiguredCurve) {
  auto p384 = test_key::ec("P-384");
  EXPECT_THROW(verifier(jwks_config(algorithm::es256, jwks_of({p384.jwk("k")}))), std::invalid_argument);
  // A P-384 key relabelled as P-256 (the coordinates do not fit) and a point that is not on the curve.
  auto relabelled = p384.jwk("k");
  relabelled["crv"] = "P-256";
  EXPECT_THROW(verifier(jwks_config(algorithm::es256, jwks_of({relabelled}))), std::invalid_argument);
  auto off_curve = test_key::ec("P-256").jwk("k");
  off_curve["y"] = core::base64url_encode(std::string(32, '\x01'));
  EXPECT_THROW(verifier(jwks_config(algorithm::es256, jwks_of({off_curve}))), std::invalid_argument);
}

TEST(Jwt, JwksHonoursUseAlgAndKeyOps) {
  auto good = test_key::ec("P-256");
  auto check = [&](const char* name, boost::json::value v, bool usable) {
    auto k = test_key::ec("P-256");
    auto jwk = k.jwk("k");
    jwk[name] = v;
    verifier ver(jwks_config(algorithm::es256, jwks_of({jwk, good.jwk("good")})));
    auto with_kid = ver.verify(sign_jwt("ES256", claims_for("a"), {}, &k, "k"), unix_now());
    auto without = ver.verify(sign_jwt("ES256", claims_for("a"), {}, &k), unix_now());
    EXPECT_EQ(with_kid.has_value(), usable) << name << "=" << boost::json::serialize(v) << ": " << with_kid.error().message();
    EXPECT_EQ(without.has_value(), usable) << name << "=" << boost::json::serialize(v) << ": " << without.error().message();
    EXPECT_TRUE(ver.verify(sign_jwt("ES256", claims_for("a"), {}, &good, "good"), unix_now()).has_value());
  };
  check("use", "sig", true);
  check("use", "enc", false);
  check("use", 1, false);
  check("alg", "ES256", true);
  check("alg", "ES384", false);
  check("alg", "RS256", false);
  check("alg", nullptr, false);
  check("key_ops", boost::json::array{"sign", "verify"}, true);
  check("key_ops", boost::json::array{"encrypt"}, false);
  check("key_ops", boost::json::array{}, false);
  check("key_ops", "verify", false);

  auto enc_only = good.jwk("k");
  enc_only["use"] = "enc";
  EXPECT_THROW(verifier(jwks_config(algorithm::es256, jwks_of({enc_only}))), std::invalid_argument);
}

// Signs a payload given as raw JSON text, for numbers a JSON object cannot hold exactly.
std::string sign_raw_hs256(const std::string& payload_json) {
  std::string input = core::base64url_encode(R"({"alg":"HS256","typ":"JWT"})") + "." + core::base64url_encode(payload_json);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + core::base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
}

// Converting these to int64 was undefined behaviour (UBSan: "outside the range of representable
// values"), and exp + leeway could overflow; each is now refused or compared without overflow.
TEST(Jwt, TimeClaimsOutOfInt64RangeAreRefused) {
  verifier v(hs(algorithm::hs256));
  auto now = unix_now();
  auto with = [](const char* claim, const std::string& number) {
    return std::string(R"({"sub":"a",)") + (std::string(claim) == "exp" ? "" : R"("exp":4102444800,)") + "\"" +
           claim + "\":" + number + "}";
  };
  for (const char* n : {"1e300", "-1e300", "1e19", "-1e19", "9223372036854775808", "18446744073709551615",
                        "9223372036854775807.5", "1e400", "-1e400", "\"4102444800\"", "true", "null", "[1]"}) {
    auto exp = v.verify(sign_raw_hs256(with("exp", n)), now);
    EXPECT_FALSE(exp.has_value()) << "exp " << n;
    auto nbf = v.verify(sign_raw_hs256(with("nbf", n)), now);
    EXPECT_FALSE(nbf.has_value()) << "nbf " << n;
  }
  EXPECT_EQ(v.verify(sign_raw_hs256(with("exp", "1e300")), now).error().message(), "bad exp");
  EXPECT_EQ(v.verify(sign_raw_hs256(with("exp", "18446744073709551615")), now).error().message(), "bad exp");
  EXPECT_EQ(v.verify(sign_raw_hs256(with("nbf", "-1e300")), now).error().message(), "bad nbf");

  // The ends of the range itself are valid numbers; the leeway saturates instead of wrapping.
  EXPECT_TRUE(v.verify(sign_raw_hs256(with("exp", "9223372036854775807")), now).has_value());
  EXPECT_EQ(v.verify(sign_raw_hs256(with("exp", "-9223372036854775808")), now).error().message(), "expired");
  EXPECT_TRUE(v.verify(sign_raw_hs256(with("nbf", "-9223372036854775808")), now).has_value());
  EXPECT_EQ(v.verify(sign_raw_hs256(with("nbf", "9223372036854775807")), now).error().message(), "not yet valid");
  EXPECT_TRUE(v.verify(sign_raw_hs256(with("exp", "4102444800.75")), now).has_value());

  auto wide = hs(algorithm::hs256);
  wide.leeway_s = std::numeric_limits<std::int64_t>::max();
  verifier lenient(wide);
  EXPECT_TRUE(lenient.verify(sign_raw_hs256(with("exp", "9223372036854775807")), now).has_value());
  EXPECT_TRUE(lenient.verify(sign_raw_hs256(with("nbf", "9223372036854775807")), now).has_value());
  EXPECT_TRUE(lenient.verify(sign_jwt("HS256", claims_for("a", -3600), secret), now).has_value());
}

// Makes every HMAC computation in this process fail until the end of the scope.
struct hmac_unavailable {
  hmac_unavailable() { EXPECT_EQ(EVP_set_default_properties(nullptr, "provider=no-such-provider"), 1); }
  ~hmac_unavailable() { EVP_set_default_properties(nullptr, ""); }
};

// When HMAC() failed its length stayed 0, so a token with an empty signature matched it.
TEST(Jwt, HmacFailureFailsClosed) {
  verifier v(hs(algorithm::hs256));
  auto good = sign_jwt("HS256", claims_for("a"), secret);
  auto unsigned_token = good.substr(0, good.rfind('.') + 1);
  EXPECT_EQ(v.verify(unsigned_token, unix_now()).error().message(), "bad signature");
  {
    hmac_unavailable broken;
    auto r = v.verify(unsigned_token, unix_now());
    EXPECT_FALSE(r.has_value());
    EXPECT_EQ(r.error(), token_error::hmac_failed);
    EXPECT_FALSE(v.verify(good, unix_now()).has_value());
  }
  EXPECT_TRUE(v.verify(good, unix_now()).has_value());
}

}  // namespace
}  // namespace sg::auth
