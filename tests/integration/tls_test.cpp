// HTTPS and WSS with a certificate made at test time; TLS 1.1 is refused; SIGHUP reloads the certificate.
#include "integration/harness.hpp"
#include "core/asio.hpp"

#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl.hpp>
#include <gtest/gtest.h>
#include <signal.h>

#include <cstdio>
#include <filesystem>

namespace sg::test {
namespace {

namespace ssl = boost::asio::ssl;

struct cert_dir {
  std::string dir;
  cert_dir() {
    char tmpl[] = "/tmp/streamgate-tls-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp");
    dir = tmpl;
    make("cert.pem", "key.pem");
  }
  ~cert_dir() { std::filesystem::remove_all(dir); }
  void make(const std::string& cert, const std::string& key) const {
    std::string cmd = "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost"
                      " -addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout " + dir + "/" + key + " -out " + dir +
                      "/" + cert + " 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl req failed");
  }
  std::string path(const std::string& f) const { return dir + "/" + f; }
};

// Runs `cmd` and returns its output (bounded by `timeout` in the command itself).
std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  while (std::size_t n = fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  pclose(p);
  return out;
}

TEST(Tls, WssRoundTripWithVerifiedCertificate) {
  cert_dir certs;
  server_process srv({"--tls-cert", certs.path("cert.pem"), "--tls-key", certs.path("key.pem")});
  EXPECT_NE(srv.log().find("\"tls\":true"), std::string::npos);

  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(certs.path("cert.pem"));
  ctx.set_verify_mode(ssl::verify_peer);
  websocket::stream<beast::ssl_stream<beast::tcp_stream>> ws(ioc, ctx);
  beast::get_lowest_layer(ws).expires_after(10s);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), srv.port()));
  ws.next_layer().set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  ws.next_layer().handshake(ssl::stream_base::client);
  EXPECT_GE(SSL_version(ws.next_layer().native_handle()), TLS1_2_VERSION);
  ws.handshake("127.0.0.1:" + std::to_string(srv.port()), "/ws");
  beast::flat_buffer buf;
  ws.read(buf);
  EXPECT_NE(beast::buffers_to_string(buf.data()).find("\"type\":\"connected\""), std::string::npos);
  buf.clear();
  ws.write(net::buffer(std::string(R"({"action":"stream","projectId":"tls","userInput":"secure titles"})")));
  std::string last;
  while (last.find("stream_complete") == std::string::npos) {
    buf.clear();
    ws.read(buf);
    last = beast::buffers_to_string(buf.data());
  }
  ws.close(websocket::close_code::normal);
}

TEST(Tls, OpensslClientGetsHealthAndTls11IsRefused) {
  cert_dir certs;
  server_process srv({"--tls-cert", certs.path("cert.pem"), "--tls-key", certs.path("key.pem")});
  auto port = std::to_string(srv.port());
  auto ok = run("printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost:" + port +
                "\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl s_client "
                "-quiet -verify_return_error -CAfile " + certs.path("cert.pem") + " -connect 127.0.0.1:" + port +
                " 2>/dev/null");
  EXPECT_NE(ok.find("{\"status\":\"ok\"}"), std::string::npos) << ok;
  // Over TLS the anonymous identity cookie is Secure.
  EXPECT_NE(ok.find("SameSite=Lax; Secure"), std::string::npos) << ok;
  auto old = run("timeout 10 openssl s_client -tls1_1 -connect 127.0.0.1:" + port + " </dev/null 2>&1");
  EXPECT_NE(old.find("alert protocol version"), std::string::npos) << old;
  EXPECT_NE(old.find("Cipher is (NONE)"), std::string::npos) << old;
  // Plain HTTP to the TLS port gets no answer, and the server keeps serving.
  EXPECT_THROW(http_request(srv.port(), http::verb::get, "/healthz", {}, {}, 2s), std::runtime_error);
  auto again = run("printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost:" + port +
                   "\\r\\nConnection: close\\r\\n\\r\\n' | timeout 10 openssl "
                   "s_client -quiet -CAfile " + certs.path("cert.pem") + " -connect 127.0.0.1:" + port + " 2>/dev/null");
  EXPECT_NE(again.find("{\"status\":\"ok\"}"), std::string::npos);
}

TEST(Tls, SighupReloadsTheCertificate) {
  cert_dir certs;
  server_process srv({"--tls-cert", certs.path("cert.pem"), "--tls-key", certs.path("key.pem")});
  auto fingerprint = [&] {
    return run("timeout 10 openssl s_client -connect 127.0.0.1:" + std::to_string(srv.port()) +
               " </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256");
  };
  auto before = fingerprint();
  ASSERT_NE(before.find("Fingerprint"), std::string::npos);
  certs.make("cert.pem", "key.pem");  // a new certificate in place
  srv.signal(SIGHUP);
  ASSERT_TRUE(srv.wait_for_log("\"what\":\"tls certificate\"", 5s));
  auto after = fingerprint();
  EXPECT_NE(before, after);
}

}  // namespace
}  // namespace sg::test
