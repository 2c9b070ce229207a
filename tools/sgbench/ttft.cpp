// sgbench ttft: time to first token over several paths to one fake upstream, one request at a time.
//
//   sgbench ttft [--requests 1000] [--warmup 20] --target NAME PORT PATH BODY [--target ...]
//
// Each round sends one request to every target in the order given (so every path sees the same
// drift of the machine), over keep-alive connections on 127.0.0.1 with blocking sockets and Beast's
// parser. A request's time to first token runs from just before its write to the read that brings
// the upstream's stamp "@<µs>|<µs>" (CLOCK_MONOTONIC, as the fake writes it: its request's arrival
// and its first write); "outside" is that time less the fake's own span between the two stamps. The
// rest of each answer is read to its end before the next request, so no answer overlaps another.
// Prints one JSON object: per target, every sample in ms.
#include "ttft.hpp"
#include "wire.hpp"

#include "core/asio.hpp"

#include <boost/asio/connect.hpp>
#include <boost/json.hpp>

#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sg::tools {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

struct target {
  std::string name;
  std::uint16_t port = 0;
  std::string path;
  std::string body;
  std::optional<tcp::socket> sock;
  beast::flat_buffer buf;
  std::vector<double> ttft_ms, outside_ms;
};

void connect(net::io_context& ioc, target& t) {
  t.sock.emplace(ioc);
  t.sock->connect({net::ip::make_address("127.0.0.1"), t.port});
  t.sock->set_option(tcp::no_delay(true));
  t.buf.clear();
}

void one_request(net::io_context& ioc, target& t, bool record) {
  if (!t.sock) connect(ioc, t);
  http::request<http::string_body> req{http::verb::post, t.path, 11};
  req.set(http::field::host, "127.0.0.1:" + std::to_string(t.port));
  req.set(http::field::content_type, "application/json");
  req.set(http::field::accept, "text/event-stream");
  req.body() = t.body;
  req.keep_alive(true);
  req.prepare_payload();

  using clock = std::chrono::steady_clock;
  clock::time_point t0;
  std::optional<http::response_parser<http::buffer_body>> parser;
  // A keep-alive connection the server closed while it was idle fails at the write or the head:
  // the request is made once more on a new connection, and timed from there.
  for (bool retried = false;; retried = true) {
    t0 = clock::now();
    parser.emplace();
    parser->body_limit(boost::none);
    beast::error_code ec;
    http::write(*t.sock, req, ec);
    if (!ec) http::read_header(*t.sock, t.buf, *parser, ec);
    if (!ec) break;
    if (retried) throw beast::system_error(ec);
    connect(ioc, t);
  }
  auto& p = *parser;
  if (p.get().result() != http::status::ok)
    throw std::runtime_error(t.name + ": HTTP " + std::to_string(p.get().result_int()));
  std::string seen;
  bool stamped = false;
  char tmp[16 * 1024];
  while (!p.is_done()) {
    p.get().body().data = tmp;
    p.get().body().size = sizeof tmp;
    beast::error_code ec;
    http::read_some(*t.sock, t.buf, p, ec);
    if (ec == http::error::need_buffer) ec = {};
    if (ec) throw beast::system_error(ec);
    if (stamped) continue;
    seen.append(tmp, sizeof tmp - p.get().body().size);
    if (auto span = stamp_span_us(seen)) {
      double ttft = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
      stamped = true;
      if (record) {
        t.ttft_ms.push_back(ttft);
        t.outside_ms.push_back(ttft - static_cast<double>(*span) / 1e3);
      }
    }
  }
  if (!stamped) throw std::runtime_error(t.name + ": the answer ended with no stamped token: " + seen.substr(0, 300));
  if (!p.keep_alive()) t.sock.reset();
}

}  // namespace

int run_ttft(int argc, char** argv) {
  unsigned requests = 1000, warmup = 20;
  std::vector<target> targets;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto need = [&](int n) {
      if (i + n >= argc) throw std::invalid_argument(a + " needs " + std::to_string(n) + " values");
    };
    if (a == "--requests") need(1), requests = static_cast<unsigned>(std::stoul(argv[++i]));
    else if (a == "--warmup") need(1), warmup = static_cast<unsigned>(std::stoul(argv[++i]));
    else if (a == "--target") {
      need(4);
      target t;
      t.name = argv[++i];
      t.port = static_cast<std::uint16_t>(std::stoul(argv[++i]));
      t.path = argv[++i];
      t.body = argv[++i];
      targets.push_back(std::move(t));
    } else if (a == "--help" || a == "-h") {
      std::cout << "usage: sgbench ttft [--requests N] [--warmup N] --target NAME PORT PATH BODY [--target ...]\n";
      return 0;
    } else throw std::invalid_argument("unknown option " + a);
  }
  if (targets.empty()) throw std::invalid_argument("ttft: give at least one --target");
  net::io_context ioc;
  for (unsigned r = 0; r < warmup + requests; ++r)
    for (auto& t : targets) one_request(ioc, t, r >= warmup);
  boost::json::object out{{"requests", requests}};
  auto& by_name = out["targets"].emplace_object();
  for (auto& t : targets)
    by_name[t.name] = {{"ttft_ms", boost::json::value_from(t.ttft_ms)},
                       {"outside_ms", boost::json::value_from(t.outside_ms)}};
  std::cout << boost::json::serialize(out) << "\n";
  return 0;
}

}  // namespace sg::tools
