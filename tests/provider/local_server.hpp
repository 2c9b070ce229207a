// Test helper: a loopback HTTP(S) server with blocking sockets, one thread per connection, scripted by the test.
#pragma once

#include "core/asio.hpp"

#include <boost/asio/ssl.hpp>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sg::provider::test {

namespace ssl = boost::asio::ssl;

/// Accepts on 127.0.0.1:0 and runs `handler(socket, index)` on a thread per connection.
/// Sockets time out reads after 5 s so a broken test cannot hang.
class local_server {
 public:
  using handler = std::function<void(tcp::socket&, int)>;
  explicit local_server(handler h) : h_(std::move(h)), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    accept_thread_ = std::thread([this] { loop(); });
  }
  ~local_server() {
    stop_ = true;
    error_code ec;
    tcp::socket wake(ioc_);
    wake.connect({net::ip::make_address("127.0.0.1"), port_}, ec);  // unblocks accept()
    accept_thread_.join();
    std::lock_guard lock(mu_);
    for (auto& t : threads_) t.join();
  }
  std::uint16_t port() const { return port_; }
  int connections() const { return accepted_.load(); }

 private:
  void loop() {
    for (int i = 0;; ++i) {
      tcp::socket s(ioc_);
      error_code ec;
      acceptor_.accept(s, ec);
      if (stop_ || ec) return;
      ++accepted_;
      timeval tv{5, 0};
      ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      std::lock_guard lock(mu_);
      threads_.emplace_back([this, s = std::move(s), i]() mutable {
        try {
          h_(s, i);
        } catch (const std::exception&) {
        }
      });
    }
  }
  handler h_;
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> threads_;
};

/// Reads one request (head and body) from a blocking stream; throws on EOF.
template <class Stream>
http::request<http::string_body> read_request(Stream& s, beast::flat_buffer& buf) {
  http::request<http::string_body> req;
  http::read(s, buf, req);
  return req;
}

/// Writes raw bytes to a blocking stream.
template <class Stream>
void write_raw(Stream& s, std::string_view bytes) {
  net::write(s, net::buffer(bytes.data(), bytes.size()));
}

/// Blocks until the peer closes (or the 5 s receive timeout); true if it saw EOF/reset.
inline bool wait_peer_close(tcp::socket& s) {
  char c[256];
  for (;;) {
    error_code ec;
    s.read_some(net::buffer(c), ec);
    if (ec == net::error::eof || ec == net::error::connection_reset) return true;
    if (ec) return false;
  }
}

/// A self-signed P-256 certificate for `dns_name`, PEM-encoded, with its key.
struct test_cert {
  std::string cert_pem, key_pem;
};

inline test_cert make_self_signed(const std::string& dns_name) {
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(EVP_EC_gen("P-256"), EVP_PKEY_free);
  std::unique_ptr<X509, decltype(&X509_free)> x(X509_new(), X509_free);
  if (!key || !x) throw std::runtime_error("openssl");
  X509_set_version(x.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
  X509_set_pubkey(x.get(), key.get());
  auto* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(dns_name.c_str()), -1,
                             -1, 0);
  X509_set_issuer_name(x.get(), name);
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, x.get(), x.get(), nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_subject_alt_name, "DNS:" + dns_name},
                            std::pair{NID_basic_constraints, std::string("critical,CA:TRUE")}}) {
    std::unique_ptr<X509_EXTENSION, decltype(&X509_EXTENSION_free)> ext(
        X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()), X509_EXTENSION_free);
    X509_add_ext(x.get(), ext.get(), -1);
  }
  X509_sign(x.get(), key.get(), EVP_sha256());
  auto to_pem = [](auto write) {
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
    write(bio.get());
    char* data = nullptr;
    long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
  };
  test_cert out;
  out.cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, x.get()); });
  out.key_pem = to_pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr); });
  return out;
}

/// Writes `text` to a fresh temporary file and returns its path (removed by the caller).
inline std::string write_temp_file(const std::string& text) {
  char tmpl[] = "/tmp/sg-test-XXXXXX";
  int fd = mkstemp(tmpl);
  if (fd < 0) throw std::runtime_error("mkstemp");
  std::FILE* f = fdopen(fd, "w");
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
  return tmpl;
}

}  // namespace sg::provider::test
