// A team's own streaming backend (`type = "http"`): streamgate POSTs the stream's request as JSON and
// reads progress, delta, usage and error events back as SSE or NDJSON.
#pragma once

#include "provider/protocol.hpp"

#include <map>

namespace sg::provider::backend {

class backend_protocol final : public configured_protocol {
 public:
  /// Throws std::invalid_argument when the settings' URL is not http(s).
  explicit backend_protocol(provider_settings s);
  httpc::request_spec build(const request& req, const std::string& model) const override;
  std::unique_ptr<stream_decoder> decoder(const std::string& model) const override;

 private:
  httpc::url url_;
  std::string target_;  ///< path and query, as configured
};

/// The JSON body POSTed for one stream: streamId, requestId, projectId, userInput, chatHistory,
/// cards, sub, connectionId (and model, context when there are any); pure.
std::string request_body(const request& req, const std::string& model);

/// A decoder of the backend's events. The response's Content-Type picks the framing:
/// text/event-stream (SSE) or application/x-ndjson (one JSON object per line). Sans-I/O.
std::unique_ptr<stream_decoder> make_decoder(std::string label);

/// `text` with every ${NAME} replaced by NAME's value in `env`; throws std::invalid_argument naming
/// `where` when a variable is unset or a ${ is not closed. Pure.
std::string substitute_env(std::string_view text, const std::map<std::string, std::string>& env,
                           const std::string& where);

}  // namespace sg::provider::backend
