// SigV4 signing against the AWS v4 signing test suite vectors in tests/data/provider/sigv4.
#include "provider/aws/sigv4.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#ifndef SG_TEST_DATA_DIR
#error "SG_TEST_DATA_DIR must point at tests/data"
#endif

namespace sg::provider::aws {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono;

// One fixture: "--- name" sections; `context` holds key=value lines.
struct fixture {
  std::string name;
  std::map<std::string, std::string> context;
  std::map<std::string, std::string> sections;
};

fixture load_fixture(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  fixture f;
  f.name = path.stem().string();
  std::string current;
  bool first_line = true;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    const std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("--- ", 0) == 0) {
      current = line.substr(4);
      f.sections[current];
      first_line = true;
      continue;
    }
    if (current.empty()) continue;  // the leading comment
    auto& s = f.sections[current];
    if (!first_line) s.push_back('\n');
    s += line;
    first_line = false;
  }
  std::istringstream ctx(f.sections["context"]);
  for (std::string line; std::getline(ctx, line);) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) f.context[line.substr(0, eq)] = line.substr(eq + 1);
  }
  return f;
}

// Parses the suite's raw HTTP request text: request line, headers (with folded
// continuation lines), blank line, body.
sigv4_request parse_request(const std::string& raw, std::string& body) {
  sigv4_request req;
  const auto head_end = raw.find("\n\n");
  const std::string head = raw.substr(0, head_end);
  body = head_end == std::string::npos ? std::string{} : raw.substr(head_end + 2);
  std::istringstream lines(head);
  std::string request_line;
  std::getline(lines, request_line);
  const auto sp = request_line.find(' ');
  const auto proto = request_line.rfind(" HTTP/");
  req.method = request_line.substr(0, sp);
  const std::string target = request_line.substr(sp + 1, proto - sp - 1);
  const auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = target.substr(q + 1);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && (line[0] == ' ' || line[0] == '\t')) {
      req.headers.back().second += "\n" + line;
      continue;
    }
    const auto colon = line.find(':');
    req.headers.emplace_back(line.substr(0, colon), line.substr(colon + 1));
  }
  return req;
}

system_clock::time_point parse_timestamp(const std::string& iso) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0;
  std::sscanf(iso.c_str(), "%d-%d-%dT%d:%d:%dZ", &y, &mo, &d, &h, &mi, &s);
  return sys_days{year{y} / mo / d} + hours{h} + minutes{mi} + seconds{s};
}

std::vector<fixture> all_fixtures() {
  std::vector<fixture> out;
  for (const auto& entry : fs::directory_iterator(fs::path{SG_TEST_DATA_DIR} / "provider" / "sigv4"))
    if (entry.path().extension() == ".txt") out.push_back(load_fixture(entry.path()));
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

TEST(SigV4, SigningTestSuite) {
  const auto fixtures = all_fixtures();
  ASSERT_GE(fixtures.size(), 38u) << "fixtures missing under " << SG_TEST_DATA_DIR;
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.name);
    std::string body;
    sigv4_request req = parse_request(f.sections.at("request"), body);
    req.body = body;
    const credentials creds{f.context.at("access_key_id"), f.context.at("secret_access_key"),
                            f.context.at("session_token")};
    sigv4_options opt;
    opt.region = f.context.at("region");
    opt.service = f.context.at("service");
    opt.time = parse_timestamp(f.context.at("timestamp"));
    opt.normalize_path = f.context.at("normalize") == "true";
    opt.add_content_sha256 = f.context.at("sign_body") == "true";
    opt.sign_session_token = f.context.at("omit_session_token") != "true";

    const sigv4_result r = sign_request(req, creds, opt);
    EXPECT_EQ(r.canonical_request, f.sections.at("canonical-request"));
    EXPECT_EQ(r.string_to_sign, f.sections.at("string-to-sign"));
    EXPECT_EQ(r.signature, f.sections.at("signature"));
    EXPECT_EQ(r.authorization.rfind("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=", 0), 0u);
    EXPECT_EQ(r.headers_to_add.back().first, "authorization");
  }
}

sigv4_request vanilla_post() {
  sigv4_request req;
  req.method = "POST";
  req.path = "/";
  req.headers = {{"Host", "example.amazonaws.com"}};
  return req;
}

sigv4_options suite_options() {
  sigv4_options opt;
  opt.region = "us-east-1";
  opt.service = "service";
  opt.time = sys_days{2015y / August / 30} + 12h + 36min;
  return opt;
}

const credentials suite_creds{"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};

TEST(SigV4, PostVanillaSignature) {
  const auto r = sign_request(vanilla_post(), suite_creds, suite_options());
  EXPECT_EQ(r.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  EXPECT_EQ(r.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
            "SignedHeaders=host;x-amz-date, "
            "Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  ASSERT_EQ(r.headers_to_add.size(), 2u);
  EXPECT_EQ(r.headers_to_add[0], (std::pair<std::string, std::string>{"x-amz-date", "20150830T123600Z"}));
}

TEST(SigV4, SessionTokenSignedOrAddedAfter) {
  const credentials temp{suite_creds.access_key_id, suite_creds.secret_access_key, "TOKEN"};
  auto opt = suite_options();
  const auto signed_token = sign_request(vanilla_post(), temp, opt);
  EXPECT_NE(signed_token.authorization.find("SignedHeaders=host;x-amz-date;x-amz-security-token,"),
            std::string::npos);
  opt.sign_session_token = false;
  const auto after = sign_request(vanilla_post(), temp, opt);
  EXPECT_EQ(after.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  const auto has_token = [](const header_list& h) {
    return std::any_of(h.begin(), h.end(), [](const auto& kv) {
      return kv.first == "x-amz-security-token" && kv.second == "TOKEN";
    });
  };
  EXPECT_TRUE(has_token(signed_token.headers_to_add));
  EXPECT_TRUE(has_token(after.headers_to_add));
}

TEST(SigV4, CallerSuppliedSignerHeadersAndUnsignableHeadersAreIgnored) {
  auto req = vanilla_post();
  req.headers.emplace_back("X-Amz-Date", "19700101T000000Z");
  req.headers.emplace_back("User-Agent", "streamgate/0.1");
  req.headers.emplace_back("Authorization", "stale");
  const auto r = sign_request(req, suite_creds, suite_options());
  EXPECT_EQ(r.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4, PayloadHashOverridesBody) {
  auto req = vanilla_post();
  req.body = "ignored";
  req.payload_hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
  EXPECT_EQ(sign_request(req, suite_creds, suite_options()).signature,
            "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
  req.payload_hash = "UNSIGNED-PAYLOAD";
  const auto r = sign_request(req, suite_creds, suite_options());
  EXPECT_EQ(r.canonical_request.substr(r.canonical_request.rfind('\n') + 1), "UNSIGNED-PAYLOAD");
}

// Bedrock model ids contain ':'; the wire path carries "%3A" and the canonical request "%253A".
TEST(SigV4, BedrockPathIsEncodedTwice) {
  const std::string model = "anthropic.claude-3-sonnet-20240229-v1:0";
  const std::string wire_path = "/model/" + uri_encode(model) + "/invoke-with-response-stream";
  EXPECT_EQ(wire_path, "/model/anthropic.claude-3-sonnet-20240229-v1%3A0/invoke-with-response-stream");
  EXPECT_EQ(canonical_uri(wire_path, true, true),
            "/model/anthropic.claude-3-sonnet-20240229-v1%253A0/invoke-with-response-stream");
  // The S3 rule leaves the wire path as it is.
  EXPECT_EQ(canonical_uri(wire_path, false, false), wire_path);

  sigv4_request req;
  req.method = "POST";
  req.path = wire_path;
  req.headers = {{"host", "bedrock-runtime.us-east-1.amazonaws.com"},
                 {"content-type", "application/json"},
                 {"accept", "application/vnd.amazon.eventstream"}};
  req.body = R"({"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[]})";
  auto opt = suite_options();
  opt.service = "bedrock";
  const auto r = sign_request(req, suite_creds, opt);
  EXPECT_EQ(r.canonical_request.substr(0, r.canonical_request.find('\n', 5)),
            "POST\n/model/anthropic.claude-3-sonnet-20240229-v1%253A0/invoke-with-response-stream");
  EXPECT_NE(r.authorization.find("/20150830/us-east-1/bedrock/aws4_request, "
                                 "SignedHeaders=accept;content-type;host;x-amz-date, Signature="),
            std::string::npos);
  EXPECT_EQ(r.signature.size(), 64u);
}

TEST(SigV4, UriEncode) {
  EXPECT_EQ(uri_encode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(uri_encode("a b/c:d+e=f&%"), "a%20b%2Fc%3Ad%2Be%3Df%26%25");
  EXPECT_EQ(uri_encode("a b/c", true), "a%20b/c");
  EXPECT_EQ(uri_encode("\xE1\x88\xB4"), "%E1%88%B4");
}

TEST(SigV4, CanonicalUriNormalization) {
  EXPECT_EQ(canonical_uri("", true, true), "/");
  EXPECT_EQ(canonical_uri("/a/b/../c/./d", true, true), "/a/c/d");
  EXPECT_EQ(canonical_uri("/a/b/", true, true), "/a/b/");
  EXPECT_EQ(canonical_uri("/../..", true, true), "/");
  EXPECT_EQ(canonical_uri("//a//b//", true, true), "/a/b/");
  EXPECT_EQ(canonical_uri("/%20", true, true), "/%2520");
}

TEST(SigV4, CanonicalQuery) {
  EXPECT_EQ(canonical_query(""), "");
  EXPECT_EQ(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
  EXPECT_EQ(canonical_query("flag&x="), "flag=&x=");
  EXPECT_EQ(canonical_query("k=a%20b&k2=a b"), "k=a%20b&k2=a%20b");
  EXPECT_EQ(canonical_query("&&a=1&"), "a=1");
  EXPECT_EQ(canonical_query("bad=%zz&plus=a+b"), "bad=%25zz&plus=a%2Bb");
}

TEST(SigV4, CanonicalHeaders) {
  std::string signed_headers;
  const header_list h = {{"Host", "example.com"},
                         {"X-Dup", "  one  "},
                         {"x-dup", "two   three"},
                         {" Content-Type ", "\ttext/plain;  charset=utf-8 "}};
  EXPECT_EQ(canonical_headers(h, signed_headers),
            "content-type:text/plain; charset=utf-8\nhost:example.com\nx-dup:one,two three\n");
  EXPECT_EQ(signed_headers, "content-type;host;x-dup");
}

TEST(SigV4, AmzDateAndSha256) {
  EXPECT_EQ(amz_date(sys_days{2015y / August / 30} + 12h + 36min), "20150830T123600Z");
  EXPECT_EQ(amz_date(sys_days{2024y / January / 2} + 3h + 4min + 5s + 999ms), "20240102T030405Z");
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("Param1=value1"), "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
}

}  // namespace
}  // namespace sg::provider::aws
