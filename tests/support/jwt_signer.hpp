// Test-side JWT issuing with OpenSSL: keys generated at test time, tokens of every algorithm.
#pragma once

#include "auth/jwt.hpp"
#include "core/base64.hpp"

#include <boost/json.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>

#include <memory>
#include <stdexcept>
#include <string>

namespace sg::test {

struct test_key {
  std::shared_ptr<EVP_PKEY> pkey;

  static test_key rsa(unsigned bits = 2048) {
    return {std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<size_t>(bits)), EVP_PKEY_free)};
  }
  static test_key ec(const char* curve) {
    return {std::shared_ptr<EVP_PKEY>(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve), EVP_PKEY_free)};
  }
  std::string public_pem() const {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    PEM_write_bio_PUBKEY(bio.get(), pkey.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  }
  static std::string bn_bytes(BIGNUM* bn, int pad = 0) {
    std::string out(static_cast<std::size_t>(pad ? pad : BN_num_bytes(bn)), '\0');
    BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(out.size()));
    BN_free(bn);
    return out;
  }
  boost::json::object jwk(const std::string& kid) const {
    if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
      BIGNUM *n = nullptr, *e = nullptr;
      EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_N, &n);
      EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_RSA_E, &e);
      return {{"kty", "RSA"}, {"kid", kid}, {"n", core::base64url_encode(bn_bytes(n))}, {"e", core::base64url_encode(bn_bytes(e))}};
    }
    BIGNUM *x = nullptr, *y = nullptr;
    EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
    EVP_PKEY_get_bn_param(pkey.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
    int len = (EVP_PKEY_get_bits(pkey.get()) + 7) / 8;
    return {{"kty", "EC"}, {"kid", kid}, {"crv", len == 48 ? "P-384" : "P-256"},
            {"x", core::base64url_encode(bn_bytes(x, len))}, {"y", core::base64url_encode(bn_bytes(y, len))}};
  }
};

inline const EVP_MD* test_md(const std::string& alg) {
  auto bits = alg.substr(2);
  return bits == "384" ? EVP_sha384() : bits == "512" ? EVP_sha512() : EVP_sha256();
}

/// Signs `claims` with `alg` ("HS256" … "ES384", or "none"), using `secret` for HS* and `key` otherwise.
inline std::string sign_jwt(const std::string& alg, const boost::json::object& claims, const std::string& secret = {},
                            const test_key* key = nullptr, const std::string& kid = {}) {
  boost::json::object header{{"alg", alg}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  std::string input = core::base64url_encode(boost::json::serialize(header)) + "." +
                      core::base64url_encode(boost::json::serialize(claims));
  std::string sig;
  if (alg == "none") {
  } else if (alg[0] == 'H') {
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned len = 0;
    HMAC(test_md(alg), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
    sig.assign(reinterpret_cast<char*>(mac), len);
  } else {
    std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    EVP_DigestSignInit(ctx.get(), nullptr, test_md(alg), nullptr, key->pkey.get());
    std::size_t len = 0;
    EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(input.data()), input.size());
    std::string der(len, '\0');
    EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(der.data()), &len,
                   reinterpret_cast<const unsigned char*>(input.data()), input.size());
    der.resize(len);
    if (alg[0] == 'E') {
      const unsigned char* p = reinterpret_cast<const unsigned char*>(der.data());
      std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> es(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())),
                                                                ECDSA_SIG_free);
      int n = alg == "ES384" ? 48 : 32;
      sig = test_key::bn_bytes(BN_dup(ECDSA_SIG_get0_r(es.get())), n) +
            test_key::bn_bytes(BN_dup(ECDSA_SIG_get0_s(es.get())), n);
    } else {
      sig = der;
    }
  }
  return input + "." + core::base64url_encode(sig);
}

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline boost::json::object claims_for(const std::string& sub, std::int64_t exp_in = 3600) {
  return {{"sub", sub}, {"exp", unix_now() + exp_in}, {"iat", unix_now()}};
}

}  // namespace sg::test
