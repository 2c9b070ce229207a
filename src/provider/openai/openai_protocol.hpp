// OpenAI Chat Completions streaming (OpenAI, vLLM, llama.cpp server, Ollama's /v1, LM Studio, OpenRouter).
#pragma once

#include "provider/protocol.hpp"

namespace sg::provider::openai {

class openai_protocol final : public base_url_protocol {
 public:
  explicit openai_protocol(provider_settings s);
  httpc::request_spec build(const request& req, const std::string& model) const override;
  std::unique_ptr<stream_decoder> decoder(const std::string& model) const override;
};

/// The JSON body of a streaming chat completion request; pure.
std::string chat_body(const request& req, const std::string& model);

/// Decodes `data:` events of chat.completion.chunk objects, `[DONE]` and `{"error":…}` payloads.
std::unique_ptr<stream_decoder> make_decoder(std::string label);

}  // namespace sg::provider::openai
