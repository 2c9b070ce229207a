// libFuzzer target: JWT verification on arbitrary tokens, on arbitrary claims that carry a valid
// HS256 signature (so the claim checks are reached), and on arbitrary JWKS documents.
#include "auth/jwt.hpp"
#include "core/base64.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string>

namespace {

using namespace sg::auth;

constexpr std::int64_t fixed_now = 1700000000;  // the seed tokens are valid at this time
const std::string secret = "fuzz-secret-0123456789abcdef-0123456789";

// Public keys only. The ES256 set has two keys with kid "a" and one without a kid: the shapes
// that once left a dangling key pointer.
const std::string es256_jwks = R"({"keys":[{"kty":"EC","kid":"a","crv":"P-256","x":"hosqjTXBHxm2lG-Xa-EAPWRsKh8R6edtXZJBdK3-ihs","y":"yOU4h4SsgaIdAxpuI2uoZka2YvWiLFJdT2CKjSCEHkY"},{"kty":"EC","kid":"a","crv":"P-256","x":"Q4tRvsnuqVyhkZChWWfSyjtZ_wftc8sspDsJowcAoDo","y":"9yR75PsYfgrZ1aZcaZrBcjcVRkidwR1A6gfgxlN-4ko"},{"kty":"EC","y":"dHRHX42rvkAwa163xfAABrOjgT_BxNYCB5YVCzym8Yo","crv":"P-256","x":"kjE6drqdNyuiJdAXzTwqUY8IhQ3HPhnA1SXQettmzJk"}]})";
const std::string rs256_jwks = R"({"keys":[{"kty":"RSA","kid":"r","n":"0ytLh4APUQ_6VZF5XC0q9qwERV5s46rItp37uSLs1LOchvixitukCWa80M3Z3pZggGGbA6ky0tlmodIK-eOTgZNuY72tlakH-TlCyjXt_laExzF4VX_CDz0mod6Gb3C5yXz4gJcTpjiVY-gfD4jxORazs1baxKj65_hFx8lF9WgXYEB8X10SQ-KI4u2xV53dkbr09q_LjZtkEVrWHjoJA0ewplyv6A1n0rHH_Sa0sKRukWfx61W1bUzmU5oxAsqUtVfEnddWxiamHvxoJP4ChOhuLM_xnvNnfP06qjn61ZkVG0u4hifJtblFxGTW7fZv8zBeSI-07GCq8KEpk2mMEw","e":"AQAB"}]})";
// Signed by the first ES256 key, kid "a": verified with every JWKS the fuzzer builds.
const std::string es256_token = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImEifQ.eyJzdWIiOiJmdXp6IiwiZXhwIjo0MTAyNDQ0ODAwLCJuYmYiOjE2MDAwMDAwMDAsInJvbGUiOlsidXNlciIsImFkbWluIl19.UtcI8XXdAlJ0WTxjmjyLH8ZMSbkISMxVsLBdD7tyO_lXL-h_2cfVOj9PGgYOwv6M4u_NbyauAUnkkmfRlh4_7g";

verifier_config config(algorithm alg, const std::string& jwks) {
  verifier_config c;
  c.alg = alg;
  c.jwks_json = jwks;
  c.admin_claim = "role=admin";
  return c;
}

struct verifiers {
  verifier hs{[] {
    auto c = config(algorithm::hs256, {});
    c.secret = secret;
    c.audience = "x";
    return c;
  }()};
  verifier hs_lenient{[] {  // the widest leeway, where exp + leeway would overflow
    auto c = config(algorithm::hs256, {});
    c.secret = secret;
    c.leeway_s = std::numeric_limits<std::int64_t>::max();
    return c;
  }()};
  verifier es{config(algorithm::es256, es256_jwks)};
  verifier rs{config(algorithm::rs256, rs256_jwks)};
};

const verifiers& the_verifiers() {
  static const verifiers* v = [] {
    auto* made = new verifiers;  // lives for the whole run
    // Self-check: the key set with a shared kid still verifies its own token.
    if (!made->es.verify(es256_token, fixed_now).has_value()) std::abort();
    return made;
  }();
  return *v;
}

// A refusal names one of the token's reasons; an accepted token always has a usable subject.
void check(const sg::result<claims>& r) {
  if (!r && (!r.error() || r.error().category() != token_category())) std::abort();
  if (r && (r->sub.empty() || r->sub.size() > 256)) std::abort();
}

std::string sign_hs256(std::string_view header, std::string_view payload) {
  std::string input = sg::core::base64url_encode(header) + "." + sg::core::base64url_encode(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  if (!HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
            reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len))
    std::abort();
  return input + "." + sg::core::base64url_encode(std::string(reinterpret_cast<char*>(mac), len));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in{reinterpret_cast<const char*>(data), size};
  const auto& v = the_verifiers();

  // 1. The input as a compact token.
  check(v.hs.verify(in, fixed_now));
  check(v.es.verify(in, fixed_now));
  check(v.rs.verify(in, fixed_now));

  // 2. The input as "header JSON\npayload JSON", validly signed: reaches exp/nbf/iss/aud/sub/admin.
  const auto nl = in.find('\n');
  const std::string_view header = nl == std::string_view::npos ? std::string_view(R"({"alg":"HS256"})") : in.substr(0, nl);
  const std::string_view payload = nl == std::string_view::npos ? in : in.substr(nl + 1);
  const std::string signed_token = sign_hs256(header, payload);
  for (std::int64_t now : {fixed_now, std::numeric_limits<std::int64_t>::max(), std::numeric_limits<std::int64_t>::min()}) {
    check(v.hs.verify(signed_token, now));
    check(v.hs_lenient.verify(signed_token, now));
  }
  // The MAC covers the header and payload text, and base64url decoding is canonical, so a token
  // with any one character changed never verifies.
  std::string tampered = signed_token;
  tampered[tampered.size() / 2] ^= 1;
  if (v.hs.verify(tampered, fixed_now) || v.hs_lenient.verify(tampered, fixed_now)) std::abort();

  // 3. The input as a JWKS document, for each public-key algorithm.
  if (size <= 4096) {
    for (algorithm alg : {algorithm::es256, algorithm::es384, algorithm::rs256}) {
      try {
        verifier from_input(config(alg, std::string(in)));
        check(from_input.verify(es256_token, fixed_now));
        check(from_input.verify(in, fixed_now));
      } catch (const std::invalid_argument&) {
        // No usable key in the document: refused at start-up, as it should be.
      }
    }
  }
  return 0;
}
