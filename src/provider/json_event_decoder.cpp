#include "provider/json_event_decoder.hpp"

#include <boost/json/parse.hpp>

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

bool json_event_decoder::parse_object(std::string_view data, boost::json::value& v, decoded& out) const {
  boost::system::error_code ec;
  v = boost::json::parse(data, ec);
  if (!ec && v.is_object()) return true;
  out.error = upstream_failure(proto::error_code::upstream_error, label_ + " sent an event that is not JSON");
  return false;
}

}  // namespace sg::provider
