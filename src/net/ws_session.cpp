// The WebSocket session: API Gateway's $connect/$disconnect/stream routes, in one strand.
#include "net/ws_session.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "gateway/integrations.hpp"
#include "gateway/route_messages.hpp"
#include "store/store.hpp"
#include "stream/stream_manager.hpp"

namespace sg::io {
namespace {
// Beast's deadline for the opening handshake and for the closing one.
constexpr auto ws_handshake_timeout = std::chrono::seconds(10);
}  // namespace

template <class Stream>
basic_ws_session<Stream>::basic_ws_session(Stream&& stream, gateway::app& app, std::shared_ptr<void> tls_context)
    : tls_context_(std::move(tls_context)),
      ws_(std::move(stream)),
      app_(app),
      queue_({app.cfg.outbound_merge_bytes, app.cfg.outbound_max_bytes}) {}

template <class Stream>
basic_ws_session<Stream>::~basic_ws_session() = default;

template <class Stream>
void basic_ws_session<Stream>::run(http::request<http::string_body> req, gateway::principal who, bool bearer_subprotocol,
                                   client c, std::shared_ptr<void> slots) {
  who_ = std::move(who);
  slots_ = std::move(slots);
  identity_.sub = who_.sub;
  identity_.connection_id = c.connection_id.empty() ? core::random_id("", 12) : std::move(c.connection_id);
  context_json_ = std::move(c.context_json);
  owe_disconnect_ = c.admitted_by_route;
  identity_.connected_at_ms = core::now_ms();
  last_active_ = identity_.connected_at_ms;
  identity_.source_ip = std::move(c.source_ip);
  limit_key_ = std::move(c.limit_key);
  identity_.user_agent = std::string(req[http::field::user_agent].substr(0, 512));

  // Beast's own timers: handshake/close deadlines, and pings when idle, closing a silent peer (the
  // HTTP session turned its socket's deadline off and set TCP_NODELAY before handing it over).
  websocket::stream_base::timeout opt{};
  opt.handshake_timeout = ws_handshake_timeout;
  opt.idle_timeout = std::chrono::milliseconds(app_.cfg.idle_timeout_ms);
  opt.keep_alive_pings = true;
  ws_.set_option(opt);
  ws_.read_message_max(app_.cfg.max_message_bytes);
  ws_.auto_fragment(false);
  ws_.set_option(websocket::stream_base::decorator([bearer_subprotocol, cookie = std::move(c.set_cookie)](
                                                       websocket::response_type& res) {
    res.set(http::field::server, "streamgate");
    if (!cookie.empty()) res.set(http::field::set_cookie, cookie);
    // A browser that sent its token as "bearer, <token>" expects one of its subprotocols back.
    if (bearer_subprotocol) res.set(http::field::sec_websocket_protocol, "bearer");
  }));
  ws_.async_accept(req, beast::bind_front_handler(&basic_ws_session::on_accept, this->shared_from_this()));
}

template <class Stream>
void basic_ws_session<Stream>::on_accept(error_code ec) {
  if (ec) {
    core::log(core::log_level::debug, "websocket handshake failed", {{"error", ec.message()}});
    notify_disconnect();  // the $connect integration was told of it: tell it the end too
    return;
  }
  registered_ = true;
  owe_disconnect_ = true;
  app_.connections.add(identity_.connection_id, this->shared_from_this());
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
  enqueue(proto::make_connected(identity_.connection_id, core::now_ms()));
  // A cluster node that began draining while this handshake was under way (after the drain sent
  // its connections elsewhere) sends this one elsewhere too, at once, rather than when it stops.
  if (app_.cluster && app_.draining.load()) {
    close_cause_ = "service restart";
    close(websocket::close_reason(websocket::close_code::service_restart, "service restart"));
  }
  do_read();
}

// A message's first read takes a small piece: a whole-message read prepares Beast's frame size
// (1.5 KiB) in the buffer, which an idle connection would hold for as long as it waits. The rest of
// a longer message is read whole (read_message_max bounds it).
template <class Stream>
void basic_ws_session<Stream>::do_read() {
  auto done = beast::bind_front_handler(&basic_ws_session::on_read, this->shared_from_this());
  if (buffer_.size() == 0) ws_.async_read_some(buffer_, read_piece, std::move(done));
  else ws_.async_read(buffer_, std::move(done));
}

template <class Stream>
void basic_ws_session<Stream>::on_read(error_code ec, std::size_t) {
  if (ec) {
    // Oversize messages (1009) and invalid UTF-8 (1007) were already answered by Beast's close.
    if (ec == websocket::error::message_too_big) {
      close_cause_ = "message_too_big";
      close_code_ = 1009;
    } else if (ec == websocket::error::bad_frame_payload) {
      close_cause_ = "invalid_utf8";
      close_code_ = 1007;
    } else if (ec == websocket::error::closed) {
      close_cause_ = closing_ ? close_cause_ : "client";
      // The peer's code; a close frame without one is 1005 (RFC 6455 §7.1.5).
      auto peer = static_cast<std::uint16_t>(ws_.reason().code);
      if (!close_code_) close_code_ = peer ? peer : std::uint16_t{1005};
    } else if (ec == beast::error::timeout) close_cause_ = "idle_timeout";
    else if (!closing_) close_cause_ = ec.message();
    finish();
    return;
  }
  if (!ws_.is_message_done()) {
    do_read();  // the rest of the message (read_message_max bounds the whole of it)
    return;
  }
  last_active_.store(core::now_ms(), std::memory_order_relaxed);
  if (!ws_.got_text()) {
    app_.stats.bad_messages.fetch_add(1, std::memory_order_relaxed);
    send_error(proto::error_code::bad_request, "binary frames are not supported; send JSON text frames", {});
  } else {
    auto data = buffer_.cdata();
    handle_text(std::string_view(static_cast<const char*>(data.data()), data.size()));
  }
  buffer_.consume(buffer_.size());
  if (buffer_.capacity() > read_piece) buffer_.shrink_to_fit();  // a big message's storage is not kept
  if (!closing_) do_read();
}

template <class Stream>
void basic_ws_session<Stream>::handle_text(std::string_view text) {
  if (app_.routes && app_.routes->has_message_routes()) {
    std::string request_id;
    bool is_json = false;
    if (auto route = gateway::message_route(text, *app_.routes, request_id, is_json)) {
      call_route(std::move(*route), text, std::move(request_id), is_json);
      return;
    }
  }
  auto parsed = proto::parse_client_message(text);
  if (!parsed) {
    app_.stats.bad_messages.fetch_add(1, std::memory_order_relaxed);
    auto err = parsed.error();
    enqueue(proto::make_error(err.error, {}, 0, err.request_id));
    return;
  }
  std::visit([this](auto& m) { handle(m); }, *parsed);
}

// The call runs on the route's own strand; only its answer comes back here, so a slow route holds up
// nothing but that answer.
template <class Stream>
void basic_ws_session<Stream>::call_route(std::string route, std::string_view text, std::string request_id,
                                          bool is_json) {
  if (route_calls_ >= gateway::max_route_calls_per_connection) {
    proto::error_info e{proto::error_code::rate_limited,
                        "this connection already waits for " + std::to_string(route_calls_) + " route calls",
                        true, 100, {}};
    enqueue(proto::make_error(e, {}, 0, request_id));
    return;
  }
  ++route_calls_;
  gateway::header_list headers{{"content-type", is_json ? "application/json" : "text/plain; charset=utf-8"},
                               {"X-Streamgate-Connection-Id", identity_.connection_id},
                               {"X-Streamgate-Sub", identity_.sub},
                               {"X-Streamgate-Route", route}};
  if (!context_json_.empty()) headers.emplace_back("X-Streamgate-Context", context_json_);
  app_.routes->call(route, std::string(text), std::move(headers), ws_.get_executor(),
                    [self = this->shared_from_this(), route, request_id](gateway::call_result r) {
                      --self->route_calls_;
                      if (r.outcome == gateway::call_outcome::ok) {
                        if (!r.body.empty()) self->enqueue(proto::make_raw(std::move(r.body)));
                        return;
                      }
                      core::log_info("route call failed", {{"connectionId", self->identity_.connection_id},
                                                           {"route", route},
                                                           {"result", std::string(gateway::to_string(r.outcome))},
                                                           {"status", r.status}});
                      self->enqueue(proto::make_error(gateway::route_failure(route, r), {}, 0, request_id));
                    });
}

template <class Stream>
void basic_ws_session<Stream>::notify_disconnect() {
  if (!owe_disconnect_) return;
  owe_disconnect_ = false;
  if (!app_.routes || !app_.routes->has("$disconnect")) return;
  auto code = close_code_.value_or(1006);
  gateway::header_list headers{{"content-type", "application/json"},
                               {"X-Streamgate-Connection-Id", identity_.connection_id},
                               {"X-Streamgate-Sub", identity_.sub},
                               {"X-Streamgate-Route", "$disconnect"}};
  if (!context_json_.empty()) headers.emplace_back("X-Streamgate-Context", context_json_);
  app_.routes->notify("$disconnect",
                      gateway::disconnect_body(identity_.connection_id, code, identity_.sub, identity_.source_ip,
                                               identity_.connected_at_ms, core::now_ms(), context_json_),
                      std::move(headers));
}

template <class Stream>
void basic_ws_session<Stream>::send_error(proto::error_code code, std::string message, std::string_view request_id,
                            std::string_view stream_id) {
  proto::error_info e{code, std::move(message), proto::default_retryable(code), {}, {}};
  enqueue(proto::make_error(e, stream_id, 0, request_id));
}

template <class Stream>
void basic_ws_session<Stream>::handle(proto::stream_request& r) {
  std::erase_if(started_, [](auto& w) {
    auto s = w.lock();
    return !s || s->ended();
  });
  if (started_.size() >= app_.cfg.max_streams_per_connection) {
    send_error(proto::error_code::too_many_streams,
               "this connection already runs " + std::to_string(started_.size()) + " streams (limit " +
                   std::to_string(app_.cfg.max_streams_per_connection) + ")",
               r.request_id);
    return;
  }
  auto request_id = r.request_id;
  r.connection_id = identity_.connection_id;
  r.context_json = context_json_;
  app_.streams->start_anywhere(std::move(r), who_.owner(), limit_key_, ws_.get_executor(),
                               [self = this->shared_from_this(), request_id](stream::stream_manager::start_result res) {
                                 if (!self->finished_) self->started(request_id, std::move(res));
                               });
}

template <class Stream>
void basic_ws_session<Stream>::started(const std::string& request_id, stream::stream_manager::start_result res) {
  if (res.error) {
    enqueue(proto::make_error(*res.error, {}, 0, request_id));
    return;
  }
  core::log_info("stream start", {{"connectionId", identity_.connection_id},
                                  {"streamId", res.s->id()},
                                  {"requestId", request_id},
                                  {"sub", who_.sub},
                                  {"retry", res.reused}});
  if (!res.reused) started_.push_back(res.s);
  if (subs_.count(res.s->id())) return;  // already watching it: the retry changes nothing
  subs_[res.s->id()] = subscription{res.s, 0};
  res.s->subscribe(this->shared_from_this(), 0);
}

// The stream `id` if this caller may use it, else null: at once when it is generated here (or the
// node is alone), after a lookup of the shared log when another node generates it.
template <class Stream>
template <class Fn>
void basic_ws_session<Stream>::with_visible_stream(const std::string& id, std::uint64_t seen,
                                                   const std::string& request_id, Fn fn) {
  app_.streams->find_anywhere(
      id, ws_.get_executor(),
      [self = this->shared_from_this(), fn = std::move(fn), id, request_id](stream::lookup found) {
        if (self->finished_) return;
        if (!found) {
          // The shared log could not be asked: the stream may exist, so the answer is "retry".
          self->enqueue(proto::make_error(stream::lookup_unavailable(), id, 0, request_id));
          return;
        }
        auto s = std::move(*found);
        if (s && !self->who_.may_use_stream(s->owner())) s = nullptr;
        fn(*self, std::move(s));
      },
      seen);
}

template <class Stream>
void basic_ws_session<Stream>::handle(proto::cancel_request& r) {
  with_visible_stream(r.stream_id, 0, r.request_id, [r](basic_ws_session& self, std::shared_ptr<stream::stream> s) {
    self.cancel_found(r, std::move(s));
  });
}

template <class Stream>
void basic_ws_session<Stream>::cancel_found(const proto::cancel_request& r, std::shared_ptr<stream::stream> s) {
  if (!s) {
    send_error(proto::error_code::not_found, "no stream " + r.stream_id, r.request_id, r.stream_id);
    return;
  }
  if (!subs_.count(s->id())) {
    // Not watching it: watch from now on, so the answer (stream_cancelled, or the event that
    // already ended it) reaches this connection too.
    auto last = s->info().last_seq;
    std::uint64_t after = (s->ended() && last) ? last - 1 : last;
    subs_[s->id()] = subscription{s, after};
    s->subscribe(this->shared_from_this(), after);
  }
  app_.streams->cancel(r.stream_id);
}

template <class Stream>
void basic_ws_session<Stream>::handle(proto::resume_request& r) {
  with_visible_stream(r.stream_id, r.last_seq, r.request_id, [r](basic_ws_session& self, std::shared_ptr<stream::stream> s) {
    self.resume_found(r, std::move(s));
  });
}

template <class Stream>
void basic_ws_session<Stream>::resume_found(const proto::resume_request& r, std::shared_ptr<stream::stream> s) {
  if (!s) {
    send_error(proto::error_code::not_found, "no stream " + r.stream_id + " (unknown or expired)", r.request_id,
               r.stream_id);
    return;
  }
  auto it = subs_.find(s->id());
  if (it != subs_.end()) {
    // Already subscribed: re-send what the client says it lacks, up to what was queued; the live
    // flow continues after that, so nothing is sent twice or out of order.
    auto events = s->events_between(r.last_seq, it->second.last_enqueued);
    if (!events) {
      send_error(proto::error_code::not_found,
                 "events after seq " + std::to_string(r.last_seq) + " are no longer retained", r.request_id,
                 r.stream_id);
      return;
    }
    for (auto& ev : *events) enqueue(ev, true);
    return;
  }
  subs_[s->id()] = subscription{s, r.last_seq};
  using result = stream::stream::subscribe_result;
  switch (s->subscribe(this->shared_from_this(), r.last_seq)) {
    case result::not_retained:
      subs_.erase(s->id());
      send_error(proto::error_code::not_found,
                 "events after seq " + std::to_string(r.last_seq) + " are no longer retained", r.request_id,
                 r.stream_id);
      break;
    case result::past_end:
      // The client saw the end already (or claims more): tell it again how the stream ended, and
      // keep no subscription that nothing would ever close.
      subs_.erase(s->id());
      if (auto last = s->last_event()) enqueue(last, true);
      break;
    case result::beyond_end:
      subs_.erase(s->id());
      send_error(proto::error_code::bad_request,
                 "lastSeq " + std::to_string(r.last_seq) + " is past the stream's last event", r.request_id,
                 r.stream_id);
      break;
    case result::ok:
    case result::ended:
      break;
  }
}

template <class Stream>
void basic_ws_session<Stream>::handle(proto::ping_request& r) { enqueue(proto::make_pong(r.request_id)); }

template <class Stream>
void basic_ws_session<Stream>::deliver(proto::event_ptr ev) {
  // The stream this connection started runs on its thread: its events go straight to the queue
  // (enqueue never calls back into a stream, so the stream's lock may be held). Others hop over.
  if (core::running_in(ws_.get_executor())) {
    enqueue(std::move(ev));
    return;
  }
  net::post(ws_.get_executor(), [self = this->shared_from_this(), ev = std::move(ev)]() mutable {
    self->enqueue(std::move(ev));
  });
}

template <class Stream>
void basic_ws_session<Stream>::send_frame(std::string text) {
  net::post(ws_.get_executor(), [self = this->shared_from_this(), text = std::move(text)]() mutable {
    self->enqueue(proto::make_raw(std::move(text)));
  });
}

static_assert(gateway::close_codes::normal == websocket::close_code::normal);

template <class Stream>
void basic_ws_session<Stream>::disconnect(std::uint16_t code, std::string reason) {
  net::post(ws_.get_executor(), [self = this->shared_from_this(), code, reason = std::move(reason)] {
    self->close_cause_ = reason.empty() ? "server" : reason;
    self->close(websocket::close_reason(static_cast<websocket::close_code>(code), reason));
  });
}

template <class Stream>
void basic_ws_session<Stream>::enqueue(proto::event_ptr ev, bool replay) {
  if (closing_ || finished_) return;
  if (!ev->stream_id.empty() && ev->seq != 0) {
    auto it = subs_.find(ev->stream_id);
    if (it != subs_.end()) {
      // A stream's events reach us once: from the replay, or from the live flow, never both.
      if (!replay) {
        if (ev->seq <= it->second.last_enqueued) return;
        it->second.last_enqueued = ev->seq;
      }
      if (ev->terminal()) subs_.erase(it);
    }
  }
  auto result = queue_.push(std::move(ev));
  report_queue();
  if (result == outbound_queue::push_result::merged)
    app_.stats.merged_chunks.fetch_add(1, std::memory_order_relaxed);
  if (result == outbound_queue::push_result::overflow) {
    // Too slow even with merging: close with 1008; the client can resume every stream it had.
    app_.stats.slow_closes.fetch_add(1, std::memory_order_relaxed);
    close_cause_ = "slow_consumer";
    core::log_warn("slow consumer closed", {{"connectionId", identity_.connection_id},
                                            {"queuedBytes", queue_.bytes()},
                                            {"limit", app_.cfg.outbound_max_bytes}});
    queue_.clear_waiting();
    close(websocket::close_reason(websocket::close_code::policy_error, "slow consumer: resume to continue"));
    return;
  }
  do_write();
}

template <class Stream>
void basic_ws_session<Stream>::do_write() {
  if (queue_.writing()) return;
  in_flight_ = queue_.begin_write();
  if (!in_flight_) return;
  ws_.text(true);
  ws_.async_write(net::buffer(in_flight_->json), beast::bind_front_handler(&basic_ws_session::on_write, this->shared_from_this()));
}

template <class Stream>
void basic_ws_session<Stream>::on_write(error_code ec, std::size_t) {
  if (!ec && in_flight_->due_us)
    app_.stats.chunk_lateness.observe_ms(static_cast<double>(core::now_us() - in_flight_->due_us) / 1000.0);
  in_flight_.reset();
  queue_.end_write();
  report_queue();
  if (ec) {
    if (!closing_) close_cause_ = "write: " + ec.message();
    finish();
    return;
  }
  app_.stats.events_sent.fetch_add(1, std::memory_order_relaxed);
  if (pending_close_) {
    // What was queued before the close goes out first: a drain's 1001 follows the streams' last events.
    if (!queue_.empty()) {
      do_write();
      return;
    }
    auto reason = *pending_close_;
    pending_close_.reset();
    ws_.async_close(reason, beast::bind_front_handler(&basic_ws_session::on_close, this->shared_from_this()));
    return;
  }
  if (!closing_) do_write();
}

template <class Stream>
void basic_ws_session<Stream>::close(websocket::close_reason reason) {
  if (closing_ || finished_) return;
  closing_ = true;
  if (!close_code_) close_code_ = static_cast<std::uint16_t>(reason.code);
  if (queue_.writing() || !queue_.empty()) {
    pending_close_ = std::make_unique<websocket::close_reason>(reason);  // Beast allows one write at a time; the close frame is a write
    do_write();
    return;
  }
  ws_.async_close(reason, beast::bind_front_handler(&basic_ws_session::on_close, this->shared_from_this()));
}

template <class Stream>
void basic_ws_session<Stream>::on_close(error_code) {
  // The read loop sees the end of the close handshake and calls finish().
}

template <class Stream>
void basic_ws_session<Stream>::finish() {
  if (finished_) return;
  finished_ = true;
  for (auto& [id, sub] : subs_) sub.s->unsubscribe(this);
  subs_.clear();
  queue_.clear_waiting();
  report_queue();
  slots_.reset();
  notify_disconnect();
  if (!registered_) return;
  app_.connections.remove(identity_.connection_id);
  app_.stats.ws_open.fetch_sub(1, std::memory_order_relaxed);
  auto id = identity_.connection_id;
  app_.store->run([id](store::database& db) { db.delete_connection(id); });
  core::log_info("connection close", {{"connectionId", identity_.connection_id},
                                      {"transport", "websocket"},
                                      {"cause", close_cause_},
                                      {"closeCode", close_code_.value_or(1006)},
                                      {"durationMs", core::now_ms() - identity_.connected_at_ms}});
}

template <class Stream>
void basic_ws_session<Stream>::report_queue() {
  auto now = static_cast<std::int64_t>(queue_.bytes());
  if (now != reported_bytes_) app_.stats.outbound_bytes.fetch_add(now - reported_bytes_, std::memory_order_relaxed);
  reported_bytes_ = now;
}

template class basic_ws_session<ws_transport_t<plain_stream>>;
template class basic_ws_session<tls_stream>;

}  // namespace sg::io
