// What the route integrations send and how their answers decide: the bodies of $connect and
// $disconnect, the route of a client message, and a call's outcome as an answer. Pure functions.
#pragma once

#include "gateway/http_api.hpp"
#include "gateway/integrations.hpp"
#include "proto/event.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sg::gateway {

using name_values = std::vector<std::pair<std::string, std::string>>;

/// $connect's body: {"connectionId","sourceIp","userAgent","sub","headers","query"}. Header names are
/// lower-cased and repeated headers joined with ", "; a repeated query parameter keeps its first value.
std::string connect_body(std::string_view connection_id, std::string_view source_ip, std::string_view user_agent,
                         std::string_view sub, const name_values& headers, const name_values& query);

/// $disconnect's body: {"connectionId","closeCode","sub","sourceIp","connectedAt","disconnectedAt"}, and
/// "context" when $connect returned one.
std::string disconnect_body(std::string_view connection_id, unsigned close_code, std::string_view sub,
                            std::string_view source_ip, std::int64_t connected_at_ms, std::int64_t now_ms,
                            std::string_view context_json);

/// The context a $connect answer may carry, bounded (8 KiB serialized).
constexpr std::size_t max_context_bytes = 8 * 1024;

/// Route calls one connection may have waiting at once: one client cannot take a route's whole
/// `max_concurrency` from the others. Past it the message is refused with `rate_limited`.
constexpr unsigned max_route_calls_per_connection = 8;

/// What a $connect call decided.
struct connect_decision {
  bool admit = false;
  std::string context_json;  ///< the answer's "context" object, serialized ("" when none)
  unsigned status = 0;       ///< when refused: the HTTP status of the refusal
  proto::error_info error;   ///< when refused: the error body
};
/// A 2xx admits (keeping `{"context":{…}}` from a JSON body); a 4xx or 5xx answer refuses with that status;
/// no answer (timeout, unreachable, busy, open circuit) or an oversized context refuses with 503.
connect_decision decide_connect(const call_result& r);

/// The $connect call for an upgrade request: its body (connect_body of the request's headers, query
/// and User-Agent) and the X-Streamgate-* headers that name the connection, the caller and the route.
struct route_call {
  std::string body;
  header_list headers;
};
route_call connect_call(const request& req, std::string_view connection_id,
                        std::string_view source_ip, std::string_view sub);

/// The HTTP answer to an upgrade that $connect refused: the decision's status and error; the connection closes.
response connect_refusal(const request& req, const connect_decision& d);

/// The route a client's text frame goes to, or nullopt for the built-in handling. A frame whose
/// `action` names a configured route goes there (a route named like a built-in action overrides it);
/// a built-in action stays built in; anything else (another action, no action, not JSON) goes to
/// $default when it is configured. `request_id` receives the frame's requestId, if any.
std::optional<std::string> message_route(std::string_view text, const integrations& routes, std::string& request_id,
                                         bool& is_json);

/// The error event a client gets when its message's route call did not answer 2xx.
proto::error_info route_failure(std::string_view route, const call_result& r);

/// Whether `name` is one of the actions streamgate answers itself.
bool is_builtin_action(std::string_view name);

}  // namespace sg::gateway
