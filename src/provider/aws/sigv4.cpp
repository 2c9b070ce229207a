// SigV4: canonical request, string to sign, HMAC-SHA256 key chain, Authorization header.
#include "provider/aws/sigv4.hpp"

#include "core/sha256.hpp"
#include "core/text.hpp"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <memory>
#include <stdexcept>

namespace sg::provider::aws {
namespace {

constexpr std::string_view algorithm = "AWS4-HMAC-SHA256";
constexpr char hex_digits[] = "0123456789abcdef";        // signatures and hashes
constexpr char upper_hex_digits[] = "0123456789ABCDEF";  // percent-encoding (RFC 3986)

using digest = std::array<unsigned char, 32>;

struct mac_deleter {
  void operator()(EVP_MAC* m) const noexcept { EVP_MAC_free(m); }
};
struct mac_ctx_deleter {
  void operator()(EVP_MAC_CTX* c) const noexcept { EVP_MAC_CTX_free(c); }
};

// Fetching the algorithm is the slow part of an OpenSSL 3 HMAC, so do it once per process;
// EVP_MAC objects are immutable and safe to share between threads.
EVP_MAC* hmac_algorithm() {
  static const std::unique_ptr<EVP_MAC, mac_deleter> mac{EVP_MAC_fetch(nullptr, "HMAC", nullptr)};
  if (!mac) throw std::runtime_error("OpenSSL: HMAC unavailable");
  return mac.get();
}

digest hmac_sha256(std::string_view key, std::string_view data) {
  std::unique_ptr<EVP_MAC_CTX, mac_ctx_deleter> ctx{EVP_MAC_CTX_new(hmac_algorithm())};
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  digest out{};
  std::size_t out_len = 0;
  if (!ctx ||
      EVP_MAC_init(ctx.get(), reinterpret_cast<const unsigned char*>(key.data()), key.size(), params) != 1 ||
      EVP_MAC_update(ctx.get(), reinterpret_cast<const unsigned char*>(data.data()), data.size()) != 1 ||
      EVP_MAC_final(ctx.get(), out.data(), &out_len, out.size()) != 1 || out_len != out.size())
    throw std::runtime_error("OpenSSL: HMAC-SHA256 failed");
  return out;
}

std::string_view as_view(const digest& d) noexcept {
  return {reinterpret_cast<const char*>(d.data()), d.size()};
}

std::string to_hex(const unsigned char* p, std::size_t n) {
  std::string out(2 * n, '\0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = hex_digits[p[i] >> 4];
    out[2 * i + 1] = hex_digits[p[i] & 0xF];
  }
  return out;
}

bool is_unreserved(unsigned char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_' || c == '.' || c == '~';
}

int hex_value(char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes %XX escapes; a malformed escape stays literal (and is then encoded as "%25").
std::string percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      const int hi = hex_value(s[i + 1]);
      const int lo = hex_value(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi << 4 | lo));
        i += 2;
        continue;
      }
    }
    out.push_back(s[i]);
  }
  return out;
}

bool is_space(char c) noexcept { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// Trims and collapses whitespace runs (including folded continuation lines) to one space.
std::string trim_all(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  bool pending_space = false;
  for (char c : v) {
    if (is_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    out.push_back(c);
  }
  return out;
}

// Headers that proxies or the HTTP stack may rewrite; signing them would break the signature.
bool never_signed(std::string_view lower_name) noexcept {
  return lower_name == "authorization" || lower_name == "user-agent" ||
         lower_name == "x-amzn-trace-id" || lower_name == "expect" ||
         lower_name == "connection" || lower_name == "transfer-encoding";
}

// Headers sign_request() sets itself; a caller's copy would be signed twice.
bool set_by_signer(std::string_view lower_name) noexcept {
  return lower_name == "x-amz-date" || lower_name == "x-amz-security-token" ||
         lower_name == "x-amz-content-sha256";
}

}  // namespace

std::string uri_encode(std::string_view s, bool keep_slash) {
  std::string out;
  out.reserve(s.size() + s.size() / 4);
  for (unsigned char c : s) {
    if (is_unreserved(c) || (keep_slash && c == '/')) {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(upper_hex_digits[c >> 4]);
      out.push_back(upper_hex_digits[c & 0xF]);
    }
  }
  return out;
}

std::string canonical_uri(std::string_view path, bool normalize, bool double_encode) {
  if (path.empty()) return "/";
  std::string normalized;
  if (normalize) {
    std::vector<std::string_view> segments;
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t slash = path.find('/', start);
      if (slash == std::string_view::npos) slash = path.size();
      const std::string_view seg = path.substr(start, slash - start);
      if (seg == "..") {
        if (!segments.empty()) segments.pop_back();
      } else if (!seg.empty() && seg != ".") {
        segments.push_back(seg);
      }
      start = slash + 1;
    }
    normalized = "/";
    for (std::size_t i = 0; i < segments.size(); ++i) {
      normalized.append(segments[i]);
      if (i + 1 < segments.size() || path.back() == '/') normalized.push_back('/');
    }
  } else {
    normalized.assign(path);
  }
  // Non-S3 services canonicalise the already-encoded wire path by encoding it once more.
  return double_encode ? uri_encode(normalized, true) : normalized;
}

std::string canonical_query(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> params;
  std::size_t start = 0;
  while (start <= query.size()) {
    std::size_t amp = query.find('&', start);
    if (amp == std::string_view::npos) amp = query.size();
    const std::string_view part = query.substr(start, amp - start);
    if (!part.empty()) {
      const std::size_t eq = part.find('=');
      const std::string_view key = part.substr(0, eq);
      const std::string_view value = eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1);
      // Decoding first makes raw and pre-encoded inputs canonicalise the same way.
      params.emplace_back(uri_encode(percent_decode(key)), uri_encode(percent_decode(value)));
    }
    start = amp + 1;
  }
  std::sort(params.begin(), params.end());
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out.push_back('&');
    out.append(k).append("=").append(v);
  }
  return out;
}

std::string canonical_headers(const header_list& headers, std::string& signed_headers) {
  std::vector<std::pair<std::string, std::string>> lowered;
  lowered.reserve(headers.size());
  for (const auto& [name, value] : headers) lowered.emplace_back(core::ascii_lower(trim_all(name)), trim_all(value));
  // Stable, so repeated headers keep their order when their values are joined.
  std::stable_sort(lowered.begin(), lowered.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string out;
  signed_headers.clear();
  for (std::size_t i = 0; i < lowered.size(); ++i) {
    if (i > 0 && lowered[i].first == lowered[i - 1].first) {
      out.back() = ',';
      out.append(lowered[i].second).push_back('\n');
      continue;
    }
    if (!signed_headers.empty()) signed_headers.push_back(';');
    signed_headers.append(lowered[i].first);
    out.append(lowered[i].first).append(":").append(lowered[i].second).push_back('\n');
  }
  return out;
}

std::string amz_date(std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const auto secs = floor<seconds>(t);
  const auto day = floor<days>(secs);
  const year_month_day ymd{day};
  const hh_mm_ss hms{secs - day};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d%02u%02uT%02d%02d%02dZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                static_cast<int>(hms.seconds().count()));
  return buf;
}

std::string sha256_hex(std::string_view data) {
  auto d = core::sha256(data);
  return to_hex(d.data(), d.size());
}

sigv4_result sign_request(const sigv4_request& request, const credentials& creds,
                          const sigv4_options& options) {
  sigv4_result result;
  const std::string date = amz_date(options.time);
  const std::string_view day = std::string_view{date}.substr(0, 8);
  const std::string payload_hash = request.payload_hash.empty() ? sha256_hex(request.body) : request.payload_hash;

  header_list to_sign;
  to_sign.reserve(request.headers.size() + 3);
  for (const auto& h : request.headers) {
    const std::string lower = core::ascii_lower(h.first);
    if (!never_signed(lower) && !set_by_signer(lower)) to_sign.push_back(h);
  }
  result.headers_to_add.emplace_back("x-amz-date", date);
  if (options.add_content_sha256) result.headers_to_add.emplace_back("x-amz-content-sha256", payload_hash);
  const bool token = !creds.session_token.empty();
  if (token && options.sign_session_token)
    result.headers_to_add.emplace_back("x-amz-security-token", creds.session_token);
  to_sign.insert(to_sign.end(), result.headers_to_add.begin(), result.headers_to_add.end());
  // A token added after signing is sent but not covered (some STS flows require that).
  if (token && !options.sign_session_token)
    result.headers_to_add.emplace_back("x-amz-security-token", creds.session_token);

  std::string signed_headers;
  const std::string headers_block = canonical_headers(to_sign, signed_headers);

  std::string& cr = result.canonical_request;
  cr.append(request.method).push_back('\n');
  cr.append(canonical_uri(request.path, options.normalize_path, options.double_encode_path)).push_back('\n');
  cr.append(canonical_query(request.query)).push_back('\n');
  cr.append(headers_block).push_back('\n');
  cr.append(signed_headers).push_back('\n');
  cr.append(payload_hash);

  std::string scope;
  scope.append(day).append("/").append(options.region).append("/").append(options.service).append("/aws4_request");

  std::string& sts = result.string_to_sign;
  sts.append(algorithm).push_back('\n');
  sts.append(date).push_back('\n');
  sts.append(scope).push_back('\n');
  sts.append(sha256_hex(cr));

  const digest k_date = hmac_sha256("AWS4" + creds.secret_access_key, day);
  const digest k_region = hmac_sha256(as_view(k_date), options.region);
  const digest k_service = hmac_sha256(as_view(k_region), options.service);
  const digest k_signing = hmac_sha256(as_view(k_service), "aws4_request");
  const digest sig = hmac_sha256(as_view(k_signing), sts);
  result.signature = to_hex(sig.data(), sig.size());

  result.authorization.append(algorithm)
      .append(" Credential=")
      .append(creds.access_key_id)
      .append("/")
      .append(scope)
      .append(", SignedHeaders=")
      .append(signed_headers)
      .append(", Signature=")
      .append(result.signature);
  result.headers_to_add.emplace_back("authorization", result.authorization);
  return result;
}

}  // namespace sg::provider::aws
