// What every HTTP provider is made of: a request builder and a sans-I/O response decoder per wire format.
#pragma once

#include "proto/event.hpp"
#include "provider/http/http_client.hpp"
#include "provider/provider.hpp"

#include <boost/json/fwd.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::provider {

/// A stage the upstream reported itself (the streaming backend's `progress` events).
struct progress_update {
  std::string stage;   ///< initializing | analyzing | generating | finalizing
  std::string step;    ///< human text
  int percent = 0;     ///< 0-100
  std::size_t at = 0;  ///< it comes before deltas[at] (after every delta when at == deltas.size())
};

/// What a decoder found in the bytes it was fed.
struct decoded {
  std::vector<std::string> deltas;          ///< text, in order
  std::vector<progress_update> progress;    ///< stages, placed among the deltas
  bool done = false;                        ///< the upstream said the answer is complete
  proto::usage usage;                       ///< valid when `done`
  std::optional<proto::error_info> error;   ///< the upstream reported a failure (terminal)
  /// The error's message was written for clients (a team's own backend), so it reaches them as is;
  /// otherwise clients get the code's fixed text and the upstream's words stay in the log.
  bool client_message = false;
  /// Empty again for the next read; the vectors keep their storage.
  void clear() {
    deltas.clear();
    progress.clear();
    done = false;
    usage = {};
    error.reset();
    client_message = false;
  }
};

/// Turns a streamed response body into deltas, usage and errors. Sans-I/O; one per response.
class stream_decoder {
 public:
  virtual ~stream_decoder() = default;
  /// Feeds the next body bytes (split anywhere).
  virtual void feed(std::string_view bytes, decoded& out) = 0;
  /// The body ended. A stream that never said it was complete becomes an error here.
  virtual void finish(decoded& out) = 0;
  /// The head of a 2xx response, before any body bytes; an error refuses the response (a content
  /// type the decoder cannot read). Most wire formats need nothing from it.
  virtual std::optional<proto::error_info> on_head(const httpc::response_head&) { return std::nullopt; }
};

/// The provider's settings as configured (see provider_config.hpp).
struct provider_settings {
  std::string name;  ///< the name requests use ("openai", "my-vllm")
  std::string kind;  ///< openai | anthropic | bedrock | ollama | http
  bool configured = false;  ///< a [providers.NAME] table defines it (else only the environment's conventions do)
  std::string base_url;
  std::string api_key;  ///< resolved from api_key_env at start-up
  std::string api_key_env;
  std::string default_model;
  std::vector<std::string> allowed_models;
  std::uint32_t max_tokens = 1024;
  int max_retries = 2;
  std::int64_t retry_base_ms = 500;
  std::int64_t max_retry_wait_ms = 20'000;
  httpc::timeouts limits;
  // http (a team's own streaming backend)
  std::vector<std::pair<std::string, std::string>> headers;  ///< sent with every request, ${ENV} already substituted
  // bedrock
  std::string region;
  std::string bedrock_api = "auto";  ///< auto (invoke for anthropic.claude-*, else converse) | invoke | converse
  std::string access_key_id, secret_access_key, session_token;
};

/// One wire format. Pure: thread-safe, no I/O.
class protocol {
 public:
  virtual ~protocol() = default;
  /// The upstream request that streams an answer to `req` from `model`.
  virtual httpc::request_spec build(const request& req, const std::string& model) const = 0;
  /// A fresh decoder for one response of `model`.
  virtual std::unique_ptr<stream_decoder> decoder(const std::string& model) const = 0;
  /// The error an unsuccessful HTTP status carries.
  virtual proto::error_info http_error(unsigned status, const httpc::response_head& head,
                                       std::string_view body) const;
  /// The provider's name in messages.
  virtual const std::string& label() const = 0;
};

// ---- helpers shared by the wire formats (pure functions) ----

/// One turn of the conversation sent upstream.
struct turn {
  std::string role;  ///< "user" | "assistant"
  std::string content;
};

/// The system prompt: the history's system messages (cards appended) if it has any, even empty
/// ones, else the one the stream engine built from the project's cards.
std::string system_prompt_of(const request& req);
/// The history without system messages, then the user input; consecutive turns of one role are
/// joined when `merge` (Anthropic and Bedrock want strict alternation).
std::vector<turn> turns_of(const request& req, bool merge);
/// Appends `"model":<model>,"messages":[…]` (the system prompt, if any, then turns_of(req, false))
/// as JSON, written straight out: byte for byte what json::serialize makes of the same members,
/// for text that is valid UTF-8 (as all text parsed from JSON or read from the store is).
void append_chat_model_and_messages(std::string& out, const request& req, std::string_view model);

/// The error for an HTTP status, with the upstream's own message from `body` when it has one.
proto::error_info error_for_status(std::string_view provider, unsigned status, const httpc::response_head& head,
                                   std::string_view body);
/// Retry-After in ms from retry-after-ms or retry-after (seconds); nullopt if absent or unparsable.
std::optional<std::int64_t> retry_after_ms(const httpc::response_head& head);
/// The human message inside an error body: error.message, error (string), message or Message.
std::string error_message_in(std::string_view body);

/// An upstream failure that is neither an HTTP status nor a transport error.
proto::error_info upstream_failure(proto::error_code code, std::string message);
/// The fixed text a client sees for an upstream failure; the upstream's own words go to the log only.
std::string client_message(proto::error_code code);

/// A non-negative integer field of an upstream JSON object (token counts), or `otherwise`.
std::uint64_t count_field(const boost::json::object& o, std::string_view key, std::uint64_t otherwise = 0);

/// The settings' base URL parsed; throws std::invalid_argument naming the provider when it is not http(s).
httpc::url parse_base_url(const provider_settings& s);

/// A protocol configured by its provider's settings, named after the provider.
class configured_protocol : public protocol {
 public:
  const std::string& label() const override { return s_.name; }

 protected:
  explicit configured_protocol(provider_settings s) : s_(std::move(s)) {}
  provider_settings s_;
};

/// A protocol whose requests go under the settings' base_url (OpenAI, Ollama, Anthropic); constructing
/// one throws std::invalid_argument when that is not an http(s) URL.
class base_url_protocol : public configured_protocol {
 protected:
  explicit base_url_protocol(provider_settings s) : configured_protocol(std::move(s)), base_(parse_base_url(s_)) {}
  httpc::url base_;
};

/// A JSON POST to `base`'s path + `path` that accepts `accept`, with the settings' timeouts; `auth`
/// is one header (name, value) added when the settings carry an API key (`value_prefix` + key).
httpc::request_spec json_post(const provider_settings& s, const httpc::url& base, std::string_view path,
                              std::string_view accept, std::string_view auth_header, std::string_view value_prefix);

}  // namespace sg::provider
