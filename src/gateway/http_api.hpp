// REST routes that answer with one response: health, metrics, stream status, projects, @connections.
#pragma once

#include "core/http_message.hpp"
#include "gateway/app.hpp"
#include "gateway/security.hpp"
#include "gateway/target.hpp"
#include "proto/event.hpp"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace sg::gateway {

using request = http::request<http::string_body>;
using response = http::response<http::string_body>;
/// Sends the response; callable once, from any thread.
using responder = std::function<void(response)>;

response json_response(const request& req, http::status status, std::string body);
response error_response(const request& req, const proto::error_info& e);
response error_response(const request& req, proto::error_code code, std::string message, std::string field = {});

/// The refusal of a request for a Host this server does not answer for (421, DNS rebinding), or of an
/// API request from an origin not allowed (403, cross-site WebSocket hijacking); nullopt to go on.
std::optional<response> screen_request(app& a, const request& req, bool api);

/// Who is calling, from the request's credentials (bearer token, query token where accepted,
/// anonymous cookie), or the answer that refuses the request (400 for a malformed identity, 401).
struct caller_check {
  principal who;
  bool bearer_subprotocol = false;  ///< the token came as a WebSocket subprotocol
  std::string issued_key;           ///< a new anonymous identity to set as a cookie
  std::optional<response> refusal;
};
/// For an API route (`api`) the credentials are required unless auth is off; with auth off, anything
/// else (the page itself, a preflight) gives an anonymous caller its identity before its first API call.
/// `upgrade`: the request asks for a WebSocket (websocket::is_upgrade, which the caller has asked once).
caller_check check_caller(app& a, const request& req, const target& t, bool api, bool upgrade,
                          std::string_view source_ip);

struct request_context {
  principal who;
  std::string source_ip;
};

/// Handles the request if it is an API route (then returns true and calls `respond` once).
bool handle_api(app& a, const request& req, const target& t, const request_context& ctx, responder respond);

/// The static web app, the built-in test page, or a 404 JSON answer.
response static_response(app& a, const request& req, const target& t);

}  // namespace sg::gateway
