// REST API of projects, their prompt cards and their conversation history.
#pragma once

#include "gateway/http_api.hpp"

namespace sg::gateway {

/// Handles /v1/projects[/…]; always answers (404 for unknown sub-routes).
bool handle_projects(app& a, const request& req, const target& t, const request_context& ctx, responder& respond);

}  // namespace sg::gateway
