// Single-response REST routes; store work is posted to the store thread and answered from there.
#include "gateway/http_api.hpp"

#include "core/clock.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/metrics.hpp"
#include "gateway/anonymous.hpp"
#include "gateway/projects_api.hpp"
#include "gateway/stream_routes.hpp"
#include "core/log.hpp"
#include "store/store.hpp"
#include "stream/stream_manager.hpp"

#include <boost/json.hpp>

namespace sg::gateway {

response json_response(const request& req, http::status status, std::string body) {
  response res{status, req.version() ? req.version() : 11};
  res.set(http::field::server, "streamgate");
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  res.body() = std::move(body);
  return res;
}

response error_response(const request& req, const proto::error_info& e) {
  auto res = json_response(req, static_cast<http::status>(proto::http_status(e.code)), proto::error_body(e));
  if (e.retry_after_ms) res.set(http::field::retry_after, std::to_string((*e.retry_after_ms + 999) / 1000));
  return res;
}

response error_response(const request& req, proto::error_code code, std::string message, std::string field) {
  return error_response(req, proto::error_info{code, std::move(message), proto::default_retryable(code), {},
                                               std::move(field)});
}

std::optional<response> screen_request(app& a, const request& req, bool api) {
  if (!a.sec->host_allowed(req)) {
    auto res = error_response(req, proto::error_code::forbidden,
                              "this server does not answer for that Host (see --allowed-hosts)");
    res.result(http::status::misdirected_request);
    res.keep_alive(false);
    return res;
  }
  if (api && !a.sec->origin_allowed(req)) {
    a.stats.origin_refusals.fetch_add(1, std::memory_order_relaxed);
    return error_response(req, proto::error_code::forbidden, "origin not allowed");
  }
  return std::nullopt;
}

caller_check check_caller(app& a, const request& req, const target& t, bool api, bool upgrade,
                          std::string_view source_ip) {
  caller_check c;
  if (!api || req.method() == http::verb::options) {
    if (!a.sec->auth_enabled()) c.issued_key = a.sec->anonymous_caller(req).issued_key;
    return c;
  }
  auto auth = a.sec->authenticate(req, accepts_query_token(req, t, upgrade) ? t.param("token") : nullptr);
  if (!auth.who && auth.bad_request) {
    c.refusal = error_response(req, proto::error_code::bad_request, auth.error, std::string(anonymous::header_name));
  } else if (!auth.who) {
    a.stats.auth_failures.fetch_add(1, std::memory_order_relaxed);
    core::log_info("unauthorized", {{"sourceIp", source_ip}, {"path", t.path}, {"reason", auth.error}});
    c.refusal = error_response(req, proto::error_code::unauthorized, "a valid bearer token is required");
    c.refusal->set(http::field::www_authenticate, "Bearer");
  } else {
    c.who = std::move(*auth.who);
    c.bearer_subprotocol = auth.bearer_subprotocol;
    c.issued_key = std::move(auth.issued_key);
    return c;
  }
  // A refused upgrade closes: the client would otherwise send frames on a socket that was never upgraded.
  if (upgrade) c.refusal->keep_alive(false);
  return c;
}

namespace {

boost::json::object stream_info_json(const stream::stream_info& i) {
  return {{"streamId", i.id},     {"state", stream::to_string(i.st)}, {"projectId", i.project_id},
          {"provider", i.provider}, {"lastSeq", i.last_seq},          {"text", i.text},
          {"createdAt", i.created_at_ms}, {"endedAt", i.ended_at_ms ? boost::json::value(i.ended_at_ms) : nullptr}};
}

void answer_stream(app& a, const request& req, const std::string& id, stream::lookup found, const principal& who,
                   const responder& respond);

bool handle_streams(app& a, const request& req, const target& t, const request_context& ctx, responder& respond) {
  // /v1/streams/{id}
  if (t.segments.size() != 3) return false;
  // At once when the stream is here; after a lookup of the shared log when another node has it.
  a.streams->find_anywhere(t.segments[2], {}, [&a, req, id = t.segments[2], who = ctx.who, respond](auto s) {
    answer_stream(a, req, id, std::move(s), who, respond);
  });
  return true;
}

void answer_stream(app& a, const request& req, const std::string& id, stream::lookup found, const principal& who,
                   const responder& respond) {
  if (!found) return respond(error_response(req, stream::lookup_unavailable()));
  auto s = std::move(*found);
  if (!s || !who.may_use_stream(s->owner())) {
    respond(error_response(req, proto::error_code::not_found, "no stream " + id + " (unknown or expired)"));
    return;
  }
  if (req.method() == http::verb::get) {
    respond(json_response(req, http::status::ok, boost::json::serialize(stream_info_json(s->info()))));
  } else if (req.method() == http::verb::delete_) {
    bool running = !s->ended();
    if (running) a.streams->cancel(s->id());
    auto info = s->info();
    boost::json::object o = stream_info_json(info);
    if (running) o["state"] = "cancelling";
    respond(json_response(req, running ? http::status::accepted : http::status::ok, boost::json::serialize(o)));
  } else {
    respond(error_response(req, proto::error_code::bad_request, "use GET or DELETE on a stream"));
  }
}

void answer_connection(const request& req, const std::optional<cluster_link::connection_info>& c, bool reached,
                       const responder& respond);

bool handle_connections(app& a, const request& req, const target& t, const request_context& ctx,
                        responder& respond) {
  // API Gateway's management API: /@connections/{connectionId}
  if (!a.sec->admin_allowed(req, ctx.who)) {
    a.stats.admin_refusals.fetch_add(1, std::memory_order_relaxed);
    respond(error_response(req, proto::error_code::forbidden, "the management API needs the admin key or an admin token"));
    return true;
  }
  if (t.segments.size() != 2) {
    respond(error_response(req, proto::error_code::not_found, "use /@connections/{connectionId}"));
    return true;
  }
  const auto& id = t.segments[1];
  if (req.method() != http::verb::get && req.method() != http::verb::post && req.method() != http::verb::delete_) {
    respond(error_response(req, proto::error_code::bad_request, "use GET, POST or DELETE"));
    return true;
  }
  auto c = a.connections.find(id);
  if (c) {
    cluster_link::connection_info info{{}, c->identity(), c->last_active_ms()};
    if (req.method() == http::verb::post) c->send_frame(req.body());
    if (req.method() == http::verb::delete_)
      c->disconnect(close_codes::normal, "disconnected by the management API");
    answer_connection(req, info, true, respond);
  } else if (a.cluster) {
    // Held by another node: the shared connection table says which, and the request goes to it.
    a.cluster->find_connection(id, [&a, req, respond](std::optional<cluster_link::connection_info> info) {
      if (!info || req.method() == http::verb::get) return answer_connection(req, info, info.has_value(), respond);
      auto done = [req, respond, info](bool reached) { answer_connection(req, info, reached, respond); };
      if (req.method() == http::verb::post) a.cluster->send_to_connection(*info, req.body(), done);
      else a.cluster->disconnect_connection(*info, done);
    });
  } else {
    answer_connection(req, std::nullopt, false, respond);
  }
  return true;
}

// The management API's answer for a connection found (`reached`: it is there, and a POST or DELETE
// reached the node that holds it) or gone (410).
void answer_connection(const request& req, const std::optional<cluster_link::connection_info>& c, bool reached,
                       const responder& respond) {
  if (!c || !reached) {
    auto id = c ? c->identity.connection_id : std::string(parse_target(req.target()).segments.back());
    response res = error_response(req, proto::error_code::not_found, "connection " + id + " is gone");
    res.result(http::status::gone);
    return respond(std::move(res));
  }
  if (req.method() == http::verb::post) return respond(json_response(req, http::status::ok, "{}"));
  if (req.method() == http::verb::delete_) return respond(json_response(req, http::status::no_content, ""));
  auto& idn = c->identity;
  boost::json::object o{{"connectionId", idn.connection_id},
                        {"connectedAt", idn.connected_at_ms},
                        {"lastActiveAt", c->last_active_ms},
                        {"identity", {{"sourceIp", idn.source_ip}, {"userAgent", idn.user_agent}, {"sub", idn.sub}}}};
  if (!c->node.empty()) o["node"] = c->node;
  respond(json_response(req, http::status::ok, boost::json::serialize(o)));
}

// /v1/admin/…: the same figures as /metrics and the open connections, for the admin page.
bool handle_admin(app& a, const request& req, const target& t, const request_context& ctx, responder& respond) {
  if (!a.sec->admin_allowed(req, ctx.who)) {
    a.stats.admin_refusals.fetch_add(1, std::memory_order_relaxed);
    respond(error_response(req, proto::error_code::forbidden, "admin only: send X-Admin-Key or an admin token"));
    return true;
  }
  if (req.method() != http::verb::get) {
    respond(error_response(req, proto::error_code::bad_request, "use GET"));
    return true;
  }
  if (t.path == "/v1/admin/metrics") {
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.set(http::field::cache_control, "no-store");
    res.keep_alive(req.keep_alive());
    res.body() = render_metrics(a);
    respond(std::move(res));
    return true;
  }
  if (t.path == "/v1/admin/connections") {
    boost::json::array items;
    for (auto& c : a.connections.snapshot()) {
      auto& idn = c->identity();
      items.push_back({{"connectionId", idn.connection_id},
                       {"connectedAt", idn.connected_at_ms},
                       {"lastActiveAt", c->last_active_ms()},
                       {"sourceIp", idn.source_ip},
                       {"userAgent", idn.user_agent},
                       {"sub", idn.sub}});
    }
    respond(json_response(req, http::status::ok, boost::json::serialize(boost::json::object{{"items", items}})));
    return true;
  }
  respond(error_response(req, proto::error_code::not_found, "no such route: " + t.path));
  return true;
}

}  // namespace

bool handle_api(app& a, const request& req, const target& t, const request_context& ctx, responder respond) {
  const auto& seg = t.segments;
  if (req.method() == http::verb::options) {
    // A CORS preflight: the session adds Access-Control-Allow-Origin when the origin is allowed.
    response res{http::status::no_content, req.version()};
    res.set(http::field::access_control_allow_methods, "GET, POST, PUT, DELETE, OPTIONS");
    res.set(http::field::access_control_allow_headers, "Content-Type, Authorization, Last-Event-ID, Accept, X-Admin-Key, "
                  "X-Streamgate-Anonymous-Key, X-Streamgate-Project");
    res.set(http::field::access_control_max_age, "600");
    res.keep_alive(req.keep_alive());
    respond(std::move(res));
    return true;
  }
  if (t.path == "/healthz") {
    respond(json_response(req, http::status::ok, R"({"status":"ok"})"));
    return true;
  }
  if (t.path == "/readyz") {
    // Ready when the store answers a query and at least one provider is configured.
    // In cluster mode Redis must answer too: without it this node cannot serve other nodes' streams.
    auto providers = a.streams->provider_names();
    auto* cluster = a.cluster;
    a.store->exec([](store::database& db) { db.count_connections(); },
                  [req, respond, providers, cluster](store::result<void> r) {
                    boost::json::array ps;
                    for (auto& p : providers) ps.emplace_back(p);
                    bool cluster_ok = !cluster || cluster->ready();
                    bool ok = r && cluster_ok;
                    boost::json::object o{{"status", ok ? "ready" : "unavailable"},
                                          {"store", r ? "ok" : r.error().message()},
                                          {"providers", ps}};
                    if (cluster) {
                      o["cluster"] = cluster_ok ? "ok" : "redis unreachable";
                      o["node"] = cluster->node_id();
                    }
                    respond(json_response(req, ok ? http::status::ok : http::status::service_unavailable,
                                          boost::json::serialize(o)));
                  });
    return true;
  }
  if (t.path == "/metrics") {
    response res{http::status::ok, req.version()};
    res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.keep_alive(req.keep_alive());
    res.body() = render_metrics(a);
    respond(std::move(res));
    return true;
  }
  if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "streams") {
    if (handle_streams(a, req, t, ctx, respond)) return true;
    respond(error_response(req, proto::error_code::not_found, "no such route"));
    return true;
  }
  if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "projects") return handle_projects(a, req, t, ctx, respond);
  if (!seg.empty() && seg[0] == "@connections") return handle_connections(a, req, t, ctx, respond);
  if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "admin") return handle_admin(a, req, t, ctx, respond);
  if (!seg.empty() && seg[0] == "v1") {
    respond(error_response(req, proto::error_code::not_found, "no such route: " + t.path));
    return true;
  }
  return false;
}

response static_response(app& a, const request& req, const target& t) {
  if (req.method() != http::verb::get && req.method() != http::verb::head)
    return error_response(req, proto::error_code::not_found, "no such route: " + t.path);
  std::string path = t.path.empty() || t.path == "/" ? "/index.html" : t.path;
  auto it = a.web_files.find(path);
  bool fallback = false;
  if (it == a.web_files.end()) {
    // A client-side route of the web app (no dot in the last segment) gets index.html.
    // Only browser navigations get it: programs asking for an unknown path get a 404 JSON answer.
    bool looks_like_file = path.find('.', path.rfind('/')) != std::string::npos;
    bool navigation = req[http::field::accept].find("text/html") != std::string_view::npos;
    if (a.spa && !looks_like_file && navigation) {
      it = a.web_files.find("/index.html");
      fallback = true;
    }
    if (it == a.web_files.end()) return error_response(req, proto::error_code::not_found, "no such route: " + t.path);
  }
  response res{http::status::ok, req.version()};
  res.set(http::field::server, "streamgate");
  res.set(http::field::content_type, it->second.content_type);
  res.set("X-Content-Type-Options", "nosniff");
  res.set("Referrer-Policy", "no-referrer");
  res.set("X-Frame-Options", "DENY");
  // The built web app has no inline script; the built-in test page is one inline script.
  res.set("Content-Security-Policy", a.spa ? "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                                             "img-src 'self' data:; connect-src 'self' ws: wss:; frame-ancestors 'none'; "
                                             "base-uri 'self'"
                                           : "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                             "style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; "
                                             "frame-ancestors 'none'; base-uri 'self'");
  bool hashed_asset = !fallback && path.rfind("/assets/", 0) == 0;
  res.set(http::field::cache_control, hashed_asset ? "public, max-age=31536000, immutable" : "no-cache");
  res.keep_alive(req.keep_alive());
  if (req.method() != http::verb::head) res.body() = it->second.body;
  else res.content_length(it->second.body.size());
  return res;
}

}  // namespace sg::gateway
