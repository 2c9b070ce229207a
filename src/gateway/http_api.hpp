// REST routes that answer with one response: health, metrics, stream status, projects, @connections.
#pragma once

#include "core/asio.hpp"
#include "gateway/app.hpp"
#include "gateway/security.hpp"
#include "gateway/target.hpp"
#include "proto/event.hpp"

#include <functional>
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

struct request_context {
  principal who;
  std::string source_ip;
};

/// Handles the request if it is an API route (then returns true and calls `respond` once).
bool handle_api(app& a, const request& req, const target& t, const request_context& ctx, responder respond);

/// The static web app, the built-in test page, or a 404 JSON answer.
response static_response(app& a, const request& req, const target& t);

}  // namespace sg::gateway
