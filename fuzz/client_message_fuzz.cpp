// libFuzzer target: any WebSocket frame parses to a message or a parse_error, and errors serialize to valid JSON.
#include "proto/client_message.hpp"

#include <boost/json.hpp>

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto r = sg::proto::parse_client_message(text);
  if (!r) {
    const auto e = r.error();
    // The answer to bad input must itself be well-formed JSON whatever the input held.
    auto ev = sg::proto::make_error(e.error, {}, 0, e.request_id);
    boost::json::error_code ec;
    auto v = boost::json::parse(ev->json(), ec);
    if (ec || !v.is_object()) std::abort();
  } else {
    auto& m = *r;
    if (auto* s = std::get_if<sg::proto::stream_request>(&m)) {
      if (s->project_id.empty() || s->user_input.empty()) std::abort();
      auto chunk = sg::proto::make_chunk("st", 2, s->user_input, s->project_id);
      boost::json::error_code ec;
      auto v = boost::json::parse(chunk->json(), ec);
      if (ec) std::abort();
    }
  }
  return 0;
}
