// JWT verification: every algorithm, every refusal (expired, early, wrong key/issuer/audience, none, confusion).
#include "auth/jwt.hpp"
#include "support/jwt_signer.hpp"

#include <gtest/gtest.h>

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
    EXPECT_EQ(base64url_decode(base64url_encode(s)), s);
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
  EXPECT_FALSE(base64url_decode("a+b/"));
  EXPECT_FALSE(base64url_decode("a"));
  EXPECT_EQ(base64url_decode("Zm8="), "fo");
}

TEST(Jwt, HmacAlgorithms) {
  for (auto [name, alg] : {std::pair{"HS256", algorithm::hs256}, {"HS384", algorithm::hs384}, {"HS512", algorithm::hs512}}) {
    verifier v(hs(alg));
    auto r = v.verify(sign_jwt(name, claims_for("alice"), secret), unix_now());
    ASSERT_TRUE(r.ok) << name << ": " << r.error;
    EXPECT_EQ(r.ok->sub, "alice");
    EXPECT_FALSE(v.verify(sign_jwt(name, claims_for("alice"), secret + "x"), unix_now()).ok) << name;
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
    ASSERT_TRUE(r.ok) << k.name << ": " << r.error;
    EXPECT_EQ(r.ok->sub, "bob");
    // Signed by another key of the same kind: refused.
    auto other = k.alg == algorithm::es384 ? test_key::ec("P-384") : k.alg == algorithm::es256 ? test_key::ec("P-256") : test_key::rsa();
    EXPECT_EQ(v.verify(sign_jwt(k.name, claims_for("bob"), {}, &other), unix_now()).error, "bad signature") << k.name;
  }
}

TEST(Jwt, JwksChoosesKeyByKid) {
  auto k1 = test_key::rsa(), k2 = test_key::rsa();
  boost::json::object jwks{{"keys", boost::json::array{k1.jwk("one"), k2.jwk("two"), test_key::ec("P-256").jwk("ec")}}};
  verifier_config cfg;
  cfg.alg = algorithm::rs256;
  cfg.jwks_json = boost::json::serialize(jwks);
  verifier v(cfg);
  EXPECT_TRUE(v.verify(sign_jwt("RS256", claims_for("c"), {}, &k2, "two"), unix_now()).ok);
  EXPECT_TRUE(v.verify(sign_jwt("RS256", claims_for("c"), {}, &k1, "one"), unix_now()).ok);
  EXPECT_FALSE(v.verify(sign_jwt("RS256", claims_for("c"), {}, &k1, "two"), unix_now()).ok);

  auto e = test_key::ec("P-256");
  verifier_config ec_cfg;
  ec_cfg.alg = algorithm::es256;
  ec_cfg.jwks_json = boost::json::serialize(boost::json::object{{"keys", boost::json::array{e.jwk("e1")}}});
  EXPECT_TRUE(verifier(ec_cfg).verify(sign_jwt("ES256", claims_for("d"), {}, &e, "e1"), unix_now()).ok);
}

TEST(Jwt, TimeClaims) {
  verifier v(hs(algorithm::hs256));
  auto now = unix_now();
  auto expired = claims_for("a", -120);  // past the 60 s leeway
  EXPECT_EQ(v.verify(sign_jwt("HS256", expired, secret), now).error, "expired");
  auto within_leeway = claims_for("a", -30);
  EXPECT_TRUE(v.verify(sign_jwt("HS256", within_leeway, secret), now).ok);
  auto early = claims_for("a");
  early["nbf"] = now + 600;
  EXPECT_EQ(v.verify(sign_jwt("HS256", early, secret), now).error, "not yet valid");
  boost::json::object no_exp{{"sub", "a"}};
  EXPECT_EQ(v.verify(sign_jwt("HS256", no_exp, secret), now).error, "missing exp");
  boost::json::object no_sub{{"exp", now + 100}};
  EXPECT_EQ(v.verify(sign_jwt("HS256", no_sub, secret), now).error, "missing sub");
}

TEST(Jwt, IssuerAndAudience) {
  auto cfg = hs(algorithm::hs256);
  cfg.issuer = "https://issuer.example";
  cfg.audience = "streamgate";
  verifier v(cfg);
  auto c = claims_for("a");
  c["iss"] = "https://issuer.example";
  c["aud"] = boost::json::array{"other", "streamgate"};
  EXPECT_TRUE(v.verify(sign_jwt("HS256", c, secret), unix_now()).ok);
  c["aud"] = "other";
  EXPECT_EQ(v.verify(sign_jwt("HS256", c, secret), unix_now()).error, "wrong audience");
  c["aud"] = "streamgate";
  c["iss"] = "https://evil.example";
  EXPECT_EQ(v.verify(sign_jwt("HS256", c, secret), unix_now()).error, "wrong issuer");
}

TEST(Jwt, AlgNoneAndAlgorithmConfusionAreRefused) {
  verifier v(hs(algorithm::hs256));
  EXPECT_EQ(v.verify(sign_jwt("none", claims_for("a")), unix_now()).error, "algorithm mismatch");
  EXPECT_EQ(v.verify(sign_jwt("HS512", claims_for("a"), secret), unix_now()).error, "algorithm mismatch");

  // RS256 configured; an attacker signs HS256 with the public key as the HMAC secret.
  auto rsa = test_key::rsa();
  verifier_config cfg;
  cfg.alg = algorithm::rs256;
  cfg.public_key_pem = rsa.public_pem();
  verifier rv(cfg);
  auto forged = sign_jwt("HS256", claims_for("mallory"), rsa.public_pem());
  EXPECT_EQ(rv.verify(forged, unix_now()).error, "algorithm mismatch");
  EXPECT_EQ(rv.verify(sign_jwt("none", claims_for("a")), unix_now()).error, "algorithm mismatch");
}

TEST(Jwt, MalformedTokens) {
  verifier v(hs(algorithm::hs256));
  for (std::string t : std::vector<std::string>{"", "a", "a.b", "a.b.c.d", "!!.!!.!!", "e30.e30.", "bm90IGpzb24.e30.AA"})
    EXPECT_FALSE(v.verify(t, unix_now()).ok) << t;
  auto good = sign_jwt("HS256", claims_for("a"), secret);
  auto tampered = good;
  tampered[good.find('.') + 3] ^= 1;
  EXPECT_FALSE(v.verify(tampered, unix_now()).ok);
}

TEST(Jwt, AdminClaim) {
  verifier v(hs(algorithm::hs256));
  auto c = claims_for("root");
  c["roles"] = boost::json::array{"user", "admin"};
  EXPECT_TRUE(v.verify(sign_jwt("HS256", c, secret), unix_now()).ok->admin);
  EXPECT_FALSE(v.verify(sign_jwt("HS256", claims_for("u"), secret), unix_now()).ok->admin);
}

TEST(Jwt, BadConfigurationIsRefusedAtStart) {
  EXPECT_THROW(verifier(verifier_config{algorithm::hs256, "short", {}, {}, {}, {}, 60}), std::invalid_argument);
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

}  // namespace
}  // namespace sg::auth
