// The OpenAI-compatible surface: POST /v1/chat/completions and GET /v1/models on top of the stream engine.
#pragma once

#include "core/executor.hpp"
#include "gateway/app.hpp"
#include "gateway/http_api.hpp"
#include "proto/client_message.hpp"
#include "stream/stream.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <variant>

namespace sg::gateway::openai_api {

/// Appends one stream event's bytes of the response body to `out` (nothing: the event writes
/// nothing). Called in event order on the session's strand; stateful. The session formats a batch
/// into one buffer that it keeps between writes, so a chunk allocates no string of its own.
using event_formatter = std::function<void(const proto::event&, std::string& out)>;
/// Starts the streamed response: the session writes `s`'s events through the formatter.
using sse_starter = std::function<void(std::shared_ptr<stream::stream> s, event_formatter f)>;

/// The header that asks for a completion to be recorded in that project's message history.
inline constexpr std::string_view project_header = "X-Streamgate-Project";

/// Told of the stream behind a non-streamed completion, so the session can cancel it if its client leaves.
using stream_watcher = std::function<void(std::shared_ptr<stream::stream> s)>;

/// True for the paths this surface serves.
bool handles(const target& t);

/// Serves the request: calls `respond` once, or `start_sse` once for `stream: true`; for a
/// non-streamed completion, `watch` is called with its stream before `respond`.
/// Runs on the session's strand `ex`, which also receives the non-streamed answer's completion.
void handle(app& a, const request& req, const target& t, const std::string& owner, const std::string& limit_key,
            net::any_io_executor ex, responder respond, sse_starter start_sse, stream_watcher watch);

// ---- pure parts, for tests ----

struct chat_request {
  proto::stream_request stream;  ///< what goes to the stream engine
  std::string model;             ///< as the client named it (echoed in every chunk)
  bool stream_mode = false;
  bool include_usage = false;
};

/// Parses a chat completion body; a fault is answered with its code's status and openai_error_body.
result<chat_request, proto::error_info> parse_chat_request(std::string_view body);

/// OpenAI's error body: {"error":{"message","type","param","code"}}.
std::string openai_error_body(const proto::error_info& e);

/// The formatter of one streamed completion: chat.completion.chunk events, then `data: [DONE]`.
event_formatter chunk_formatter(std::string id, std::string model, std::int64_t created, bool include_usage);

}  // namespace sg::gateway::openai_api
