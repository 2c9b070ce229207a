// The decoder of a text/event-stream body whose events carry JSON objects (OpenAI Chat Completions,
// Anthropic Messages): the SSE framing, a malformed stream and an event that is not a JSON object are
// answered here, once; the wire format reads each event's data.
#pragma once

#include "provider/parse/sse_parser.hpp"
#include "provider/protocol.hpp"

#include <boost/json/value.hpp>

#include <string>
#include <string_view>

namespace sg::provider {

class json_event_decoder : public stream_decoder {
 public:
  void feed(std::string_view bytes, decoded& out) final;

 protected:
  /// `label` names the provider in errors.
  explicit json_event_decoder(std::string label);
  /// One event's data, as sent (empty data and markers such as "[DONE]" included); called only while
  /// `out` holds no error.
  virtual void on_data(std::string_view data, decoded& out) = 0;
  /// `data` parsed, or null with out.error set unless it is a JSON object. The value lives in this
  /// thread's parse arena, which the next parse on the thread reuses: read it within on_data only.
  boost::json::value parse_object(std::string_view data, decoded& out) const;
  /// Sets out.error: the event is not a JSON object.
  void not_json(decoded& out) const;

  std::string label_;

 private:
  sse_parser sse_;
  decoded* out_ = nullptr;  // the result of the feed() under way
};

}  // namespace sg::provider
