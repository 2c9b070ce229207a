// A WebSocket connection's actions, routed to the streams, the store and the integrations.
#include "gateway/ws_handler.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "gateway/integrations.hpp"
#include "gateway/route_messages.hpp"
#include "store/store.hpp"
#include "stream/stream_manager.hpp"

#include <variant>

namespace sg::gateway {

namespace {
constexpr std::uint16_t close_service_restart = 1012;  // RFC 6455 §7.4.1 (IANA registry)

// A replay's events are queued while it runs and written when it is over.
class held_writes {
 public:
  explicit held_writes(ws_peer& p) : p_(p) { p_.hold_writes(true); }
  ~held_writes() { p_.hold_writes(false); }
  held_writes(const held_writes&) = delete;
  held_writes& operator=(const held_writes&) = delete;

 private:
  ws_peer& p_;
};
}

ws_handler::ws_handler(app& a, ws_peer& peer) : app_(a), peer_(peer) {}

void ws_handler::begin(ws_client c) {
  // The caller's sub is kept once, in the identity; the principal's flags beside it.
  identity_.sub = std::move(c.who.sub);
  authenticated_ = c.who.authenticated;
  identity_.connection_id = c.connection_id.empty() ? core::connection_id() : std::move(c.connection_id);
  identity_.connected_at_ms = core::now_ms();
  identity_.source_ip = std::move(c.source_ip);
  identity_.user_agent = std::move(c.user_agent);
  if (!c.context_json.empty()) context_json_ = std::make_unique<const std::string>(std::move(c.context_json));
  owe_disconnect_ = c.admitted_by_route;
  if (c.limit_key != limit_key()) limit_key_ = std::make_unique<const std::string>(std::move(c.limit_key));
}

std::string ws_handler::limit_key() const {
  if (limit_key_) return *limit_key_;
  // The HTTP session's key, with the source address standing for its key (the same text for IPv4).
  return principal::limit_key(authenticated_, identity_.sub, identity_.source_ip);
}

void ws_handler::opened(std::shared_ptr<connection_handle> handle) {
  registered_ = true;
  owe_disconnect_ = true;
  app_.connections.add(identity_.connection_id, std::move(handle));
  app_.stats.ws_open.fetch_add(1, std::memory_order_relaxed);
  app_.stats.ws_accepted.fetch_add(1, std::memory_order_relaxed);
  store::connection_row row;
  row.connection_id = identity_.connection_id;
  row.connected_at = row.last_active_at = identity_.connected_at_ms;
  row.ttl = identity_.connected_at_ms + app_.cfg.connection_ttl_ms;
  row.source_ip = identity_.source_ip;
  row.user_agent = identity_.user_agent;
  row.sub = identity_.sub;
  app_.store->run([row](store::database& db) { db.put_connection(row); });
  core::log_info("connection open", {{"connectionId", identity_.connection_id},
                                     {"transport", "websocket"},
                                     {"sourceIp", identity_.source_ip},
                                     {"sub", identity_.sub},
                                     {"userAgent", identity_.user_agent}});
  peer_.write(proto::make_connected(identity_.connection_id, core::now_ms()), false);
  // A cluster node that began draining while this handshake was under way (after the drain sent
  // its connections elsewhere) sends this one elsewhere too, at once, rather than when it stops.
  if (app_.cluster && app_.draining.load()) peer_.close_now(close_service_restart, "service restart");
}

ws_handler::streams_state& ws_handler::streams() {
  if (!streams_) streams_ = std::make_unique<streams_state>();
  return *streams_;
}

const std::string& ws_handler::context_json() const {
  static const std::string none;
  return context_json_ ? *context_json_ : none;
}

void ws_handler::closed(std::uint16_t close_code, std::string_view cause) {
  if (closed_) return;
  closed_ = true;
  if (streams_ && !streams_->subs.empty()) {
    auto self = peer_.self();
    for (auto& [id, sub] : streams_->subs) sub.s->unsubscribe(self.get());
    streams_->subs.clear();
  }
  notify_disconnect(close_code);
  if (!registered_) return;
  app_.connections.remove(identity_.connection_id);
  app_.stats.ws_open.fetch_sub(1, std::memory_order_relaxed);
  app_.store->run([id = identity_.connection_id](store::database& db) { db.delete_connection(id); });
  core::log_info("connection close", {{"connectionId", identity_.connection_id},
                                      {"transport", "websocket"},
                                      {"cause", cause},
                                      {"closeCode", close_code},
                                      {"durationMs", core::now_ms() - identity_.connected_at_ms}});
}

void ws_handler::on_text(std::string_view text) {
  if (app_.routes && app_.routes->has_message_routes()) {
    std::string request_id;
    bool is_json = false;
    if (auto route = message_route(text, *app_.routes, request_id, is_json)) {
      call_route(std::move(*route), text, std::move(request_id), is_json);
      return;
    }
  }
  auto parsed = proto::parse_client_message(text);
  if (!parsed) {
    app_.stats.bad_messages.fetch_add(1, std::memory_order_relaxed);
    auto err = parsed.error();
    peer_.write(proto::make_error(err.error, {}, 0, err.request_id), false);
    return;
  }
  std::visit([this](auto& m) { handle(m); }, *parsed);
}

void ws_handler::on_binary() {
  app_.stats.bad_messages.fetch_add(1, std::memory_order_relaxed);
  send_error(proto::error_code::bad_request, "binary frames are not supported; send JSON text frames", {});
}

bool ws_handler::admit(const proto::event& ev, bool replay) {
  if (ev.stream_id.empty() || ev.seq == 0 || !streams_) return true;
  auto& subs = streams_->subs;
  auto it = subs.find(ev.stream_id);
  if (it == subs.end()) return true;
  if (!replay) {
    if (ev.seq <= it->second.last_enqueued) return false;
    it->second.last_enqueued = ev.seq;
  }
  if (ev.terminal()) subs.erase(it);
  return true;
}

// The call runs on the route's own strand; only its answer comes back here, so a slow route holds up
// nothing but that answer.
void ws_handler::call_route(std::string route, std::string_view text, std::string request_id, bool is_json) {
  if (route_calls_ >= max_route_calls_per_connection) {
    proto::error_info e{proto::error_code::rate_limited,
                        "this connection already waits for " + std::to_string(route_calls_) + " route calls",
                        true, 100, {}};
    peer_.write(proto::make_error(e, {}, 0, request_id), false);
    return;
  }
  ++route_calls_;
  header_list headers{{"content-type", is_json ? "application/json" : "text/plain; charset=utf-8"},
                      {"X-Streamgate-Connection-Id", identity_.connection_id},
                      {"X-Streamgate-Sub", identity_.sub},
                      {"X-Streamgate-Route", route}};
  if (context_json_) headers.emplace_back("X-Streamgate-Context", *context_json_);
  app_.routes->call(route, std::string(text), std::move(headers), peer_.executor(),
                    [this, keep = peer_.self(), route, request_id](call_result r) {
                      --route_calls_;
                      if (r.outcome == call_outcome::ok) {
                        if (!r.body.empty()) peer_.write(proto::make_raw(std::move(r.body)), false);
                        return;
                      }
                      core::log_info("route call failed", {{"connectionId", identity_.connection_id},
                                                           {"route", route},
                                                           {"result", std::string(to_string(r.outcome))},
                                                           {"status", r.status}});
                      peer_.write(proto::make_error(route_failure(route, r), {}, 0, request_id), false);
                    });
}

void ws_handler::notify_disconnect(std::uint16_t close_code) {
  if (!owe_disconnect_) return;
  owe_disconnect_ = false;
  if (!app_.routes || !app_.routes->has("$disconnect")) return;
  header_list headers{{"content-type", "application/json"},
                      {"X-Streamgate-Connection-Id", identity_.connection_id},
                      {"X-Streamgate-Sub", identity_.sub},
                      {"X-Streamgate-Route", "$disconnect"}};
  if (context_json_) headers.emplace_back("X-Streamgate-Context", *context_json_);
  app_.routes->notify("$disconnect",
                      disconnect_body(identity_.connection_id, close_code, identity_.sub, identity_.source_ip,
                                      identity_.connected_at_ms, core::now_ms(), context_json()),
                      std::move(headers));
}

void ws_handler::send_error(proto::error_code code, std::string message, std::string_view request_id,
                            std::string_view stream_id) {
  proto::error_info e{code, std::move(message), proto::default_retryable(code), {}, {}};
  peer_.write(proto::make_error(e, stream_id, 0, request_id), false);
}

void ws_handler::watch(const std::shared_ptr<stream::stream>& s, std::uint64_t after) {
  streams().subs[s->id()] = subscription{s, after};
  held_writes hold(peer_);
  s->subscribe(peer_.self(), after);
}

void ws_handler::handle(proto::stream_request& r) {
  auto& running = streams().started;
  std::erase_if(running, [](auto& w) {
    auto s = w.lock();
    return !s || s->ended();
  });
  if (running.size() >= app_.cfg.max_streams_per_connection) {
    send_error(proto::error_code::too_many_streams,
               "this connection already runs " + std::to_string(running.size()) + " streams (limit " +
                   std::to_string(app_.cfg.max_streams_per_connection) + ")",
               r.request_id);
    return;
  }
  auto request_id = r.request_id;
  r.connection_id = identity_.connection_id;
  r.context_json = context_json();
  app_.streams->start_anywhere(std::move(r), identity_.sub, limit_key(), peer_.executor(),
                               [this, keep = peer_.self(), request_id](stream::stream_manager::start_result res) {
                                 if (closed_) return;
                                 if (res.error) {
                                   peer_.write(proto::make_error(*res.error, {}, 0, request_id), false);
                                   return;
                                 }
                                 started(request_id, std::move(res.s), res.reused);
                               });
}

void ws_handler::started(const std::string& request_id, std::shared_ptr<stream::stream> s, bool reused) {
  core::log_info("stream start", {{"connectionId", identity_.connection_id},
                                  {"streamId", s->id()},
                                  {"requestId", request_id},
                                  {"sub", identity_.sub},
                                  {"retry", reused}});
  if (!reused) streams().started.push_back(s);
  if (streams().subs.count(s->id())) return;  // already watching it: the retry changes nothing
  watch(s, 0);
}

template <class Fn>
void ws_handler::with_visible_stream(const std::string& id, std::uint64_t seen, const std::string& request_id, Fn fn) {
  app_.streams->find_anywhere(
      id, peer_.executor(),
      [this, keep = peer_.self(), fn = std::move(fn), id, request_id](stream::lookup found) {
        if (closed_) return;
        if (!found) {
          // The shared log could not be asked: the stream may exist, so the answer is "retry".
          peer_.write(proto::make_error(stream::lookup_unavailable(), id, 0, request_id), false);
          return;
        }
        auto s = std::move(*found);
        if (s && !principal::may_use_stream(authenticated_, identity_.sub, s->owner())) s = nullptr;
        fn(std::move(s));
      },
      seen);
}

void ws_handler::handle(proto::cancel_request& r) {
  with_visible_stream(r.stream_id, 0, r.request_id,
                      [this, r](std::shared_ptr<stream::stream> s) { cancel_found(r, std::move(s)); });
}

void ws_handler::cancel_found(const proto::cancel_request& r, std::shared_ptr<stream::stream> s) {
  if (!s) {
    send_error(proto::error_code::not_found, "no stream " + r.stream_id, r.request_id, r.stream_id);
    return;
  }
  if (!streams().subs.count(s->id())) {
    // Not watching it: watch from now on, so the answer (stream_cancelled, or the event that
    // already ended it) reaches this connection too.
    auto last = s->info().last_seq;
    watch(s, (s->ended() && last) ? last - 1 : last);
  }
  app_.streams->cancel(r.stream_id);
}

void ws_handler::handle(proto::resume_request& r) {
  with_visible_stream(r.stream_id, r.last_seq, r.request_id,
                      [this, r](std::shared_ptr<stream::stream> s) { resume_found(r, std::move(s)); });
}

void ws_handler::not_retained(const proto::resume_request& r) {
  send_error(proto::error_code::not_found,
             "events after seq " + std::to_string(r.last_seq) + " are no longer retained", r.request_id, r.stream_id);
}

void ws_handler::resume_found(const proto::resume_request& r, std::shared_ptr<stream::stream> s) {
  if (!s) {
    send_error(proto::error_code::not_found, "no stream " + r.stream_id + " (unknown or expired)", r.request_id,
               r.stream_id);
    return;
  }
  auto& subs = streams().subs;
  auto it = subs.find(s->id());
  if (it != subs.end()) {
    // Already subscribed: re-send what the client says it lacks, up to what was queued; the live
    // flow continues after that, so nothing is sent twice or out of order.
    auto events = s->events_between(r.last_seq, it->second.last_enqueued);
    if (!events) {
      not_retained(r);
      return;
    }
    held_writes hold(peer_);
    for (auto& ev : *events) peer_.write(ev, true);
    return;
  }
  subs[s->id()] = subscription{s, r.last_seq};
  using result = stream::stream::subscribe_result;
  held_writes hold(peer_);
  switch (s->subscribe(peer_.self(), r.last_seq)) {
    case result::not_retained:
      subs.erase(s->id());
      not_retained(r);
      break;
    case result::past_end:
      // The client saw the end already (or claims more): tell it again how the stream ended, and
      // keep no subscription that nothing would ever close.
      subs.erase(s->id());
      if (auto last = s->last_event()) peer_.write(last, true);
      break;
    case result::beyond_end:
      subs.erase(s->id());
      send_error(proto::error_code::bad_request,
                 "lastSeq " + std::to_string(r.last_seq) + " is past the stream's last event", r.request_id,
                 r.stream_id);
      break;
    case result::ok:
    case result::ended:
      break;
  }
}

void ws_handler::handle(proto::ping_request& r) { peer_.write(proto::make_pong(r.request_id), false); }

}  // namespace sg::gateway
