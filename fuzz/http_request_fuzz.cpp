// libFuzzer target: HTTP request handling up to routing — Beast's parser with our limits, the target, the body.
#include "gateway/target.hpp"
#include "proto/client_message.hpp"

#include <boost/beast/http.hpp>
#include <boost/json.hpp>

#include <cstdlib>

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::request_parser<http::string_body> parser;
  parser.body_limit(128 * 1024);
  parser.header_limit(16 * 1024);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_done()) return 0;
  auto req = parser.release();
  auto t = sg::gateway::parse_target(req.target());
  if (t.valid) {
    for (auto& s : t.segments) (void)s.size();
    (void)t.param("lastSeq");
  }
  boost::json::error_code jec;
  auto v = boost::json::parse(req.body(), jec);
  if (!jec && v.is_object()) (void)sg::proto::parse_stream_request(v.as_object());
  return 0;
}
