// Anthropic Messages streaming; its event handling is shared with Bedrock's InvokeModelWithResponseStream.
#pragma once

#include "provider/protocol.hpp"

#include <boost/json/object.hpp>

namespace sg::provider::anthropic {

class anthropic_protocol final : public base_url_protocol {
 public:
  explicit anthropic_protocol(provider_settings s);
  httpc::request_spec build(const request& req, const std::string& model) const override;
  std::unique_ptr<stream_decoder> decoder(const std::string& model) const override;
  proto::error_info http_error(unsigned status, const httpc::response_head& head,
                               std::string_view body) const override;
};

/// The Messages request body; `anthropic_version` set means the Bedrock form (no model, no stream).
std::string messages_body(const request& req, const std::string& model, std::uint32_t max_tokens,
                          std::string_view bedrock_version = {});

/// The state of one Messages stream: text deltas, cumulative usage, message_stop, error events.
class event_state {
 public:
  explicit event_state(std::string label) : label_(std::move(label)) {}
  /// One event object (its "type" decides); unknown types and ping are ignored.
  void on_event(const boost::json::object& ev, decoded& out);
  bool done() const { return done_; }
  const proto::usage& usage() const { return usage_; }
  /// Usage reported outside the events (Bedrock's invocation metrics) fills what the events lacked.
  void fallback_usage(const proto::usage& u);

 private:
  std::string label_;
  proto::usage usage_;
  bool done_ = false;
};

/// The error code of an Anthropic error type ("overloaded_error", "rate_limit_error", ...); pure.
proto::error_code code_for_error_type(std::string_view type);

/// Decodes the SSE body of a streaming Messages response.
std::unique_ptr<stream_decoder> make_decoder(std::string label);

}  // namespace sg::provider::anthropic
