// AWS Signature Version 4 request signing (Authorization header form), without I/O.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::provider::aws {

struct credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  ///< empty unless the keys are temporary (STS)
};

using header_list = std::vector<std::pair<std::string, std::string>>;

/// The parts of an HTTP request that SigV4 covers.
struct sigv4_request {
  std::string method;  ///< e.g. "POST"
  /// The path exactly as it goes on the wire, already percent-encoded once (so a Bedrock model
  /// id "a:0" appears as "a%3A0"); see uri_encode().
  std::string path = "/";
  std::string query;    ///< the raw query string, without '?'
  header_list headers;  ///< must include Host; order and duplicates are preserved
  /// Hex SHA-256 of the body; empty means "hash `body`"; may be "UNSIGNED-PAYLOAD".
  std::string payload_hash;
  std::string_view body;  ///< hashed when payload_hash is empty
};

struct sigv4_options {
  std::string region;   ///< e.g. "us-east-1"
  std::string service;  ///< signing name, e.g. "bedrock"
  std::chrono::system_clock::time_point time;
  bool normalize_path = true;      ///< drop "." / ".." segments and empty segments (non-S3)
  bool double_encode_path = true;  ///< encode the wire path again (non-S3); false for S3
  bool add_content_sha256 = false;  ///< send and sign x-amz-content-sha256 (S3 and some APIs)
  bool sign_session_token = true;   ///< false adds x-amz-security-token after signing
};

struct sigv4_result {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signature;      ///< lowercase hex
  std::string authorization;  ///< the Authorization header value
  /// Headers to add to the request, Authorization last: x-amz-date, optionally
  /// x-amz-content-sha256 and x-amz-security-token.
  header_list headers_to_add;
};

/// Signs `request`; pure function (thread-safe), throws std::runtime_error only if OpenSSL fails.
[[nodiscard]] sigv4_result sign_request(const sigv4_request& request, const credentials& creds,
                                        const sigv4_options& options);

/// RFC 3986 percent-encoding of everything but A-Z a-z 0-9 - _ . ~ (and '/' when
/// `keep_slash`); pure function.
[[nodiscard]] std::string uri_encode(std::string_view s, bool keep_slash = false);

/// The canonical URI of a wire path under the given rules; pure function.
[[nodiscard]] std::string canonical_uri(std::string_view path, bool normalize, bool double_encode);

/// The canonical query string: parameters decoded, re-encoded strictly and sorted; pure function.
[[nodiscard]] std::string canonical_query(std::string_view query);

/// Canonical headers block (lowercase names, trimmed values, runs of spaces collapsed,
/// duplicates joined with ','), sorted, each line ending in '\n'; `signed_headers` receives
/// the ';'-joined names. Pure function.
[[nodiscard]] std::string canonical_headers(const header_list& headers, std::string& signed_headers);

/// "YYYYMMDDTHHMMSSZ" in UTC, the x-amz-date format; pure function.
[[nodiscard]] std::string amz_date(std::chrono::system_clock::time_point t);

/// Lowercase hex SHA-256 of `data`; pure function, throws std::runtime_error if OpenSSL fails.
[[nodiscard]] std::string sha256_hex(std::string_view data);

}  // namespace sg::provider::aws
