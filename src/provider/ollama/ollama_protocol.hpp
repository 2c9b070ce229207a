// Ollama's native /api/chat: NDJSON lines of message deltas, a final line with counts, or an error line.
#pragma once

#include "provider/protocol.hpp"

namespace sg::provider::ollama {

class ollama_protocol final : public base_url_protocol {
 public:
  explicit ollama_protocol(provider_settings s);
  httpc::request_spec build(const request& req, const std::string& model) const override;
  std::unique_ptr<stream_decoder> decoder(const std::string& model) const override;
};

/// The /api/chat request body; pure.
std::string chat_body(const request& req, const std::string& model);

/// OLLAMA_HOST as the SDKs read it ("host", "host:port", "0.0.0.0:port", a URL) into a base URL; pure.
std::string base_url_from_host(std::string host);

std::unique_ptr<stream_decoder> make_decoder(std::string label);

}  // namespace sg::provider::ollama
