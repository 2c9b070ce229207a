#include "provider/json_event_decoder.hpp"

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>

#include <memory>

namespace sg::provider {

json_event_decoder::json_event_decoder(std::string label)
    : label_(std::move(label)), sse_([this](const sse_event& ev) {
        if (out_ && !out_->error) on_data(ev.data, *out_);
      }) {}

void json_event_decoder::feed(std::string_view bytes, decoded& out) {
  out_ = &out;
  if (auto ec = sse_.feed(bytes); ec && !out.error)
    out.error = upstream_failure(proto::error_code::upstream_error, label_ + " sent a malformed event stream: " + ec.message());
  out_ = nullptr;
}

// One arena per thread, taken back whole before each parse: an event's DOM (a few hundred bytes for
// a token) costs no malloc or free per node. Events larger than the arena spill to the heap, and
// that spill is freed by the next parse.
boost::json::value json_event_decoder::parse_object(std::string_view data, decoded& out) const {
  constexpr std::size_t arena_bytes = 16 * 1024;
  thread_local auto arena = std::make_unique<unsigned char[]>(arena_bytes);
  thread_local boost::json::monotonic_resource resource(arena.get(), arena_bytes);
  resource.release();
  boost::system::error_code ec;
  auto v = boost::json::parse(data, ec, &resource);
  if (!ec && v.is_object()) return v;
  not_json(out);
  return nullptr;
}

void json_event_decoder::not_json(decoded& out) const {
  out.error = upstream_failure(proto::error_code::upstream_error, label_ + " sent an event that is not JSON");
}

}  // namespace sg::provider
