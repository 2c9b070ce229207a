// The WebSocket handshake's answer, side by side: the 101 as Beast's accept makes it (its response
// message with the session's decorator, serialized by Beast's serializer) and as net/ws_accept.cpp
// writes it. The bytes are the same (tests/net/ws_accept_test.cpp); the time to make them differs.
// Both compute the accept value with Beast's SHA-1 (OpenSSL's, with SHA-NI, was 272 ns against 314:
// not worth a second path).
#include "net/ws_accept.hpp"

#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/detail/hybi13.hpp>

#include <benchmark/benchmark.h>

namespace {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
constexpr std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==";

// What Beast's accept builds and serializes for a 101 (build_response, then http::write's serializer).
void BM_Answer101Beast(benchmark::State& state) {
  for (auto _ : state) {
    websocket::response_type res;
    res.result(http::status::switching_protocols);
    res.version(11);
    res.set(http::field::upgrade, "websocket");
    res.set(http::field::connection, "upgrade");
    websocket::detail::sec_ws_accept_type acc;
    websocket::detail::make_sec_ws_accept(acc, boost::beast::string_view(key.data(), key.size()));
    res.set(http::field::sec_websocket_accept, boost::beast::string_view(acc.data(), acc.size()));
    res.set(http::field::server, "streamgate");
    http::serializer<false, http::string_body> sr(res);
    std::string out;
    boost::beast::error_code ec;
    while (!sr.is_done()) {
      sr.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
        for (auto b : boost::beast::buffers_range_ref(buffers)) out.append(static_cast<const char*>(b.data()), b.size());
        sr.consume(boost::beast::buffer_bytes(buffers));
      });
    }
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Answer101Beast);

void BM_Answer101AtOnce(benchmark::State& state) {
  for (auto _ : state) {
    std::string out;
    sg::io::append_switching_protocols(out, key, {});
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_Answer101AtOnce);

}  // namespace
