// libFuzzer target: the SigV4 canonicalisers on arbitrary paths, queries and headers.
#include "provider/aws/sigv4.hpp"

#include <cstdlib>
#include <string>

namespace {

bool only_uri_chars(const std::string& s, std::string_view extra) {
  for (unsigned char c : s) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || c == '%' ||
                    extra.find(static_cast<char>(c)) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

}  // namespace

// The input is three fields separated by '\n': path, query, then "name:value" header lines.
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace sg::provider::aws;
  const std::string_view in{reinterpret_cast<const char*>(data), size};
  const auto nl1 = in.find('\n');
  const std::string_view path = in.substr(0, nl1);
  const std::string_view rest = nl1 == std::string_view::npos ? std::string_view{} : in.substr(nl1 + 1);
  const auto nl2 = rest.find('\n');
  const std::string_view query = rest.substr(0, nl2);
  const std::string_view header_text = nl2 == std::string_view::npos ? std::string_view{} : rest.substr(nl2 + 1);

  const std::string uri = canonical_uri(path, true, true);
  if (uri.empty() || uri.front() != '/' || !only_uri_chars(uri, "/")) std::abort();
  const std::string normalized = canonical_uri(path, true, false);
  if (canonical_uri(normalized, true, false) != normalized) std::abort();  // idempotent

  const std::string q = canonical_query(query);
  if (!only_uri_chars(q, "=&")) std::abort();
  if (canonical_query(q) != q) std::abort();  // canonical form is a fixed point

  header_list headers;
  std::size_t start = 0;
  while (start < header_text.size()) {
    auto end = header_text.find('\n', start);
    if (end == std::string_view::npos) end = header_text.size();
    const std::string_view line = header_text.substr(start, end - start);
    const auto colon = line.find(':');
    headers.emplace_back(std::string{line.substr(0, colon)},
                         colon == std::string_view::npos ? std::string{} : std::string{line.substr(colon + 1)});
    start = end + 1;
  }
  std::string signed_headers;
  const std::string block = canonical_headers(headers, signed_headers);
  if (!headers.empty() && (block.empty() || block.back() != '\n')) std::abort();

  if (size < 512) {
    sigv4_request req;
    req.method = "POST";
    req.path = std::string{path};
    req.query = std::string{query};
    req.headers = headers;
    sigv4_options opt;
    opt.region = "us-east-1";
    opt.service = "bedrock";
    const auto r = sign_request(req, {"AKID", "SECRET", "TOKEN"}, opt);
    if (r.signature.size() != 64) std::abort();
  }
  return 0;
}
