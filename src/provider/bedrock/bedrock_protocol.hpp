// AWS Bedrock Runtime: InvokeModelWithResponseStream (Anthropic models) and ConverseStream (any model), SigV4-signed.
#pragma once

#include "provider/aws/sigv4.hpp"
#include "provider/protocol.hpp"

#include <chrono>
#include <functional>

namespace sg::provider::bedrock {

enum class api { invoke, converse };

class bedrock_protocol final : public configured_protocol {
 public:
  using clock_fn = std::function<std::chrono::system_clock::time_point()>;
  /// `s.region` and the keys must be set (see provider_config); `now` is replaceable for tests.
  explicit bedrock_protocol(provider_settings s, clock_fn now = {});
  httpc::request_spec build(const request& req, const std::string& model) const override;
  std::unique_ptr<stream_decoder> decoder(const std::string& model) const override;
  proto::error_info http_error(unsigned status, const httpc::response_head& head,
                               std::string_view body) const override;
  /// Which API serves `model` under the configured `bedrock_api` setting.
  api api_for(std::string_view model) const;

 private:
  httpc::url base_;
  aws::credentials creds_;
  clock_fn now_;
};

/// The ConverseStream request body; pure.
std::string converse_body(const request& req, std::uint32_t max_tokens);

/// The error code of a Bedrock exception ("throttlingException", "ThrottlingException:http://…"); pure.
proto::error_code code_for_exception(std::string_view type);

/// Decodes InvokeModelWithResponseStream frames: `chunk` events whose base64 `bytes` carry Anthropic events.
std::unique_ptr<stream_decoder> make_invoke_decoder(std::string label);
/// Decodes ConverseStream frames: contentBlockDelta text, metadata usage, messageStop.
std::unique_ptr<stream_decoder> make_converse_decoder(std::string label);


}  // namespace sg::provider::bedrock
