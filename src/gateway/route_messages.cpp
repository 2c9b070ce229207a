// Bodies and decisions of the route integrations, kept apart from the sessions that do the I/O.
#include "gateway/route_messages.hpp"

#include "core/text.hpp"
#include "gateway/target.hpp"

#include <boost/json.hpp>

namespace sg::gateway {
namespace json = boost::json;

route_call connect_call(const request& req, std::string_view connection_id, std::string_view source_ip,
                        std::string_view sub) {
  name_values headers;
  for (auto& f : req) headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  auto t = parse_target(req.target());
  route_call c;
  c.body = connect_body(connection_id, source_ip, req[http::field::user_agent].substr(0, 512), sub, headers, t.query);
  c.headers = {{"content-type", "application/json"},
               {"X-Streamgate-Connection-Id", std::string(connection_id)},
               {"X-Streamgate-Sub", std::string(sub)},
               {"X-Streamgate-Route", "$connect"}};
  return c;
}

response connect_refusal(const request& req, const connect_decision& d) {
  auto res = error_response(req, d.error);
  res.result(d.status);
  res.keep_alive(false);
  return res;
}

bool is_builtin_action(std::string_view name) {
  return name == "stream" || name == "cancel" || name == "resume" || name == "ping";
}

std::string connect_body(std::string_view connection_id, std::string_view source_ip, std::string_view user_agent,
                         std::string_view sub, const name_values& headers, const name_values& query) {
  json::object h;
  for (auto& [k, v] : headers) {
    auto key = core::ascii_lower(k);
    if (auto* old = h.if_contains(key)) {
      std::string joined(old->as_string());
      joined += ", ";
      joined += v;
      *old = joined;
    } else {
      h[key] = v;
    }
  }
  json::object q;
  for (auto& [k, v] : query)
    if (!q.contains(k)) q[k] = v;
  json::object o{{"connectionId", connection_id}, {"sourceIp", source_ip}, {"userAgent", user_agent},
                 {"sub", sub},                   {"headers", std::move(h)},  {"query", std::move(q)}};
  return json::serialize(o);
}

std::string disconnect_body(std::string_view connection_id, unsigned close_code, std::string_view sub,
                            std::string_view source_ip, std::int64_t connected_at_ms, std::int64_t now_ms,
                            std::string_view context_json) {
  json::object o{{"connectionId", connection_id}, {"closeCode", close_code},      {"sub", sub},
                 {"sourceIp", source_ip},         {"connectedAt", connected_at_ms}, {"disconnectedAt", now_ms}};
  if (!context_json.empty()) {
    boost::system::error_code ec;
    auto ctx = json::parse(context_json, ec);
    if (!ec) o["context"] = std::move(ctx);
  }
  return json::serialize(o);
}

connect_decision decide_connect(const call_result& r) {
  connect_decision d;
  auto refuse = [&](unsigned status, proto::error_code code, std::string message) {
    d.admit = false;
    d.status = status;
    d.error = proto::error_info{code, std::move(message), proto::default_retryable(code), {}, {}};
    return d;
  };
  if (r.outcome == call_outcome::ok) {
    boost::system::error_code ec;
    auto v = r.body.empty() ? json::value() : json::parse(r.body, ec);
    if (!ec && v.is_object())
      if (auto* c = v.get_object().if_contains("context"); c && c->is_object()) {
        d.context_json = json::serialize(*c);
        if (d.context_json.size() > max_context_bytes)
          return refuse(503, proto::error_code::upstream_error, "the $connect integration returned a context over 8 KiB");
      }
    d.admit = true;
    return d;
  }
  if (r.outcome == call_outcome::http_4xx || r.outcome == call_outcome::http_5xx) {
    auto status = r.status >= 400 && r.status <= 599 ? r.status : 403u;
    proto::error_code code = status == 401   ? proto::error_code::unauthorized
                             : status == 429 ? proto::error_code::rate_limited
                             : status == 404 ? proto::error_code::not_found
                             : status == 400 ? proto::error_code::bad_request
                             : status >= 500 ? proto::error_code::upstream_unavailable
                                             : proto::error_code::forbidden;
    return refuse(status, code, "the connection was refused by the $connect integration");
  }
  if (r.outcome == call_outcome::timeout)
    return refuse(503, proto::error_code::upstream_timeout, "the $connect integration did not answer in time");
  return refuse(503, proto::error_code::upstream_unavailable,
                "the $connect integration is unavailable (" + std::string(to_string(r.outcome)) + ")");
}

std::optional<std::string> message_route(std::string_view text, const integrations& routes, std::string& request_id,
                                         bool& is_json) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  is_json = !ec;
  std::string action;
  bool has_action = false;
  if (!ec && v.is_object()) {
    auto& o = v.get_object();
    if (auto* r = o.if_contains("requestId"); r && r->is_string()) request_id = std::string(r->get_string());
    if (auto* a = o.if_contains("action"); a && a->is_string()) {
      action = std::string(a->get_string());
      has_action = true;
    }
  }
  if (has_action && !action.empty() && action.front() != '$' && routes.has(action)) return action;
  if (has_action && is_builtin_action(action)) return std::nullopt;
  if (routes.has("$default")) return std::string("$default");
  return std::nullopt;
}

proto::error_info route_failure(std::string_view route, const call_result& r) {
  proto::error_code code = proto::error_code::upstream_unavailable;
  switch (r.outcome) {
    case call_outcome::timeout: code = proto::error_code::upstream_timeout; break;
    case call_outcome::http_4xx:
      code = r.status == 429 ? proto::error_code::upstream_rate_limited : proto::error_code::upstream_error;
      break;
    case call_outcome::busy: code = proto::error_code::upstream_rate_limited; break;
    default: break;
  }
  std::string why = r.status ? "HTTP " + std::to_string(r.status) : std::string(to_string(r.outcome));
  return proto::error_info{code, "the " + std::string(route) + " integration failed (" + why + ")",
                           proto::default_retryable(code), {}, {}};
}

}  // namespace sg::gateway
