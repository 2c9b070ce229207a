// SSE stream routes and request rules: parse, decide, answer; the session does the writing.
#include "gateway/stream_routes.hpp"

#include "gateway/anonymous.hpp"

#include "proto/client_message.hpp"
#include "stream/stream_manager.hpp"

#include <boost/json.hpp>

#include <cerrno>
#include <charconv>
#include <cstdlib>

namespace sg::gateway {

bool is_api(const target& t) {
  return !t.segments.empty() && (t.segments[0] == "v1" || t.segments[0] == "ws" || t.segments[0] == "@connections");
}

// Anywhere else a token in the URL would only end up in logs and browser history.
bool accepts_query_token(const request& req, const target& t, bool upgrade) {
  if (upgrade) return t.path == "/ws" || t.path == "/ws/";
  return req.method() == http::verb::get && t.segments.size() == 4 && t.segments[0] == "v1" &&
         t.segments[1] == "streams" && t.segments[3] == "events";
}

bool accepts_event_stream(const request& req) {
  return req[http::field::accept].find("text/event-stream") != std::string_view::npos;
}

std::string joined_header(const request& req, std::string_view name) {
  std::string out;
  for (auto [it, end] = req.equal_range(name); it != end; ++it) {
    if (!out.empty()) out += ',';
    out += it->value();
  }
  return out;
}

void start_stream(app& a, const request& req, const principal& who, const std::string& limit_key,
                  net::any_io_executor ex, std::function<void(sse_plan)> done) {
  sse_plan p;
  boost::system::error_code ec;
  auto v = boost::json::parse(req.body(), ec);
  if (ec || !v.is_object()) {
    p.answer = error_response(req, proto::error_code::bad_request, "body must be a JSON object");
    return done(std::move(p));
  }
  auto parsed = proto::parse_stream_request(v.get_object());
  if (!parsed) {
    p.answer = error_response(req, parsed.error().error);
    return done(std::move(p));
  }
  a.streams->start_anywhere(
      std::move(*parsed), who.owner(), limit_key, std::move(ex),
      [version = req.version(), keep_alive = req.keep_alive(), event_stream = accepts_event_stream(req),
       done = std::move(done)](stream::stream_manager::start_result res) {
        request head{http::verb::post, "/v1/streams", version};  // what the answer's framing needs
        head.keep_alive(keep_alive);
        sse_plan p;
        if (res.error) {
          p.answer = error_response(head, *res.error);
        } else if (!event_stream) {
          boost::json::object o{{"streamId", res.s->id()}, {"eventsUrl", "/v1/streams/" + res.s->id() + "/events"}};
          p.answer = json_response(head, http::status::accepted, boost::json::serialize(o));
          p.answer->set(http::field::location, "/v1/streams/" + res.s->id());
        } else {
          p.s = std::move(res.s);
        }
        done(std::move(p));
      });
}

void resume_stream(app& a, const request& req, const target& t, const std::string& id, const principal& who,
                   net::any_io_executor ex, std::function<void(sse_plan)> done) {
  auto after = resume_point(req, t);
  a.streams->find_anywhere(
      id, std::move(ex),
      [req, t, id, who, done = std::move(done)](stream::lookup found) {
        done(resume_plan(req, t, id, std::move(found), who));
      },
      after);
}

void abandon_stream(app& a, const std::string& id) { a.streams->cancel(id); }

http::response<http::empty_body> sse_header(const request& req, const std::string& stream_id,
                                            const std::string& issued_key, bool secure,
                                            const std::optional<std::string>& cors_origin) {
  http::response<http::empty_body> res{http::status::ok, req.version()};
  res.set(http::field::server, "streamgate");
  res.set(http::field::content_type, "text/event-stream; charset=utf-8");
  res.set(http::field::cache_control, "no-cache");
  res.set("X-Accel-Buffering", "no");
  res.set("X-Stream-Id", stream_id);
  if (!issued_key.empty()) res.set(http::field::set_cookie, anonymous::set_cookie(issued_key, secure));
  if (cors_origin) {
    res.set(http::field::access_control_allow_origin, *cors_origin);
    res.set(http::field::vary, "Origin");
    res.set(http::field::access_control_expose_headers, "X-Stream-Id");
  }
  res.keep_alive(req.keep_alive());
  res.chunked(true);
  return res;
}

std::uint64_t resume_point(const request& req, const target& t) {
  std::string from;
  if (auto lei = req["Last-Event-ID"]; !lei.empty()) from = std::string(lei);
  else if (auto* q = t.param("lastSeq")) from = *q;
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(from.data(), from.data() + from.size(), n);
  return ec == std::errc{} && end == from.data() + from.size() ? n : 0;
}

sse_plan resume_plan(const request& req, const target& t, const std::string& id, stream::lookup found,
                       const principal& who) {
  sse_plan p;
  if (!found) {
    p.answer = error_response(req, stream::lookup_unavailable());
    return p;
  }
  auto s = std::move(*found);
  if (!s || !who.may_use_stream(s->owner())) {
    p.answer = error_response(req, proto::error_code::not_found, "no stream " + id + " (unknown or expired)");
    return p;
  }
  std::string from;
  if (auto lei = req["Last-Event-ID"]; !lei.empty()) from = std::string(lei);
  else if (auto* q = t.param("lastSeq")) from = *q;
  if (!from.empty()) {
    char* end = nullptr;
    errno = 0;
    unsigned long long n = std::strtoull(from.c_str(), &end, 10);
    if (errno || end == from.c_str() || *end != '\0' || from[0] == '-') {
      p.answer = error_response(req, proto::error_code::bad_request, "Last-Event-ID/lastSeq must be a sequence number",
                                "lastSeq");
      return p;
    }
    p.after = n;
  }
  auto last = s->last_event();
  std::uint64_t last_seq = last ? last->seq : 0;
  if (s->ended() && p.after >= last_seq) {
    p.answer.emplace(http::status::no_content, req.version());
    p.answer->set(http::field::server, "streamgate");
    p.answer->set("X-Stream-Id", s->id());
    p.answer->keep_alive(req.keep_alive());
    return p;
  }
  if (p.after > last_seq) {
    p.answer = error_response(req, proto::error_code::bad_request,
                              "Last-Event-ID/lastSeq " + std::to_string(p.after) +
                                  " is past the stream's last event (" + std::to_string(last_seq) + ")",
                              "lastSeq");
    return p;
  }
  if (!s->events_between(p.after, p.after)) {
    p.answer = error_response(req, proto::error_code::not_found,
                              "events after seq " + std::to_string(p.after) + " are no longer retained");
    return p;
  }
  p.s = std::move(s);
  return p;
}

upgrade_slots admit_upgrade(app& a, const principal& who, bool behind_proxy, const std::string& ip_key,
                            const std::string& source_ip, std::shared_ptr<connection_slot> slot) {
  upgrade_slots out;
  auto refuse = [&](std::string message) {
    a.stats.rate_limited_connections.fetch_add(1, std::memory_order_relaxed);
    out.refusal = proto::error_info{proto::error_code::rate_limited, std::move(message), true, 1000, {}};
    return out;
  };
  // `slot` is the one taken at accept (a socket refused there gets no session to upgrade). A
  // refusal drops it here, and with it what it had taken.
  if (behind_proxy && !slot->take_address(ip_key)) return refuse("too many connections from " + source_ip);
  if (who.authenticated && !slot->take_user(who.sub)) return refuse("too many connections for this user");
  out.slots = std::move(slot);
  return out;
}

}  // namespace sg::gateway
