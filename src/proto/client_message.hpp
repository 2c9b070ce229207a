// Parsing and validation of client→server messages (WebSocket frames and the SSE POST body).
#pragma once

#include "core/result.hpp"
#include "proto/event.hpp"

#include <boost/json/fwd.hpp>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace sg::proto {

struct chat_message {
  std::string role;  // "user" | "assistant" | "system"
  std::string content;
};

struct stream_request {
  std::string project_id;
  std::string user_input;
  std::vector<chat_message> history;
  std::string request_id;
  std::string provider;
  std::string model;
  /// Whether the question and answer go into the project's message history. Streams of the
  /// OpenAI surface are not recorded unless the caller names a project (X-Streamgate-Project).
  bool record = true;
  /// Whether the project's prompt cards are read before generating. The OpenAI surface without a
  /// named project has none: its first token then waits for no store round trip.
  bool read_cards = true;
  /// Whether the stream is kept for resume after it ends (--stream-retention-ms, --retained-max-bytes).
  /// A completion of the OpenAI surface is not: no client of it can resume, and keeping it would spend
  /// the retention budget of the streams that can.
  bool resumable = true;
  /// Whether the stages before and after the answer (progress events: initializing, analyzing,
  /// generating, finalizing) are published. The OpenAI surface has no place for them in its chunks,
  /// and no other reader of its completions exists, so it does not make them.
  bool stages = true;
  /// Set by the server, never read from the client: the WebSocket connection that asked, and the
  /// context its $connect integration returned (JSON text), both forwarded to an http backend.
  std::string connection_id;
  std::string context_json;
};

struct cancel_request {
  std::string stream_id;
  std::string request_id;
};

struct resume_request {
  std::string stream_id;
  std::uint64_t last_seq = 0;
  std::string request_id;
};

struct ping_request {
  std::string request_id;
};

using client_message = std::variant<stream_request, cancel_request, resume_request, ping_request>;

struct parse_error {
  error_info error;
  std::string request_id;  // echoed when the message carried one
};

/// Parses one WebSocket text frame. Never throws on bad input: every fault is a parse_error.
result<client_message, parse_error> parse_client_message(std::string_view text);

/// Validates the fields of a `stream` request held in a JSON object (shared by WebSocket and SSE).
result<stream_request, parse_error> parse_stream_request(const boost::json::object& obj);

}  // namespace sg::proto
