// The WebSocket upgrade of an HTTP session: the connection limits (this node's, then in a cluster
// every node's), the $connect integration, then the handshake, handed to a WebSocket session.
#include "net/http_session.hpp"

#include "core/ids.hpp"
#include "core/log.hpp"
#include "gateway/anonymous.hpp"
#include "gateway/cluster_link.hpp"
#include "gateway/integrations.hpp"
#include "gateway/route_messages.hpp"
#include "gateway/stream_routes.hpp"
#include "net/ws_session.hpp"

namespace sg::io {

template <class Stream>
void basic_http_session<Stream>::upgrade(gateway::request req, gateway::principal who, bool bearer_subprotocol) {
  // The per-address slot was taken at accept and moves into the WebSocket; the per-user one (and,
  // behind a trusted proxy, the forwarded client's) is taken now. Refuse with 429 before upgrading.
  auto admitted = gateway::admit_upgrade(app_, who, peer_is_proxy_, ip_key_, source_ip_, std::move(slot_));
  if (admitted.refusal) {
    auto res = gateway::error_response(req, *admitted.refusal);
    res.keep_alive(false);
    send(std::move(res));
    return;
  }
  ws_client c;
  c.source_ip = source_ip_;
  c.limit_key = limit_key_;
  if (!issued_key_.empty()) c.set_cookie = gateway::anonymous::set_cookie(issued_key_, secure_);
  if (!app_.cluster)
    return upgrade_admitted(std::move(req), std::move(who), bearer_subprotocol, std::move(c), std::move(admitted.slots));
  // In a cluster the connection limits count every node's connections: one round trip to Redis
  // before the 101 (none when no such limit is set).
  c.connection_id = core::connection_id();
  auto user_key = who.authenticated ? who.sub : std::string();
  auto state = std::make_shared<std::tuple<gateway::request, gateway::principal, decltype(c), std::shared_ptr<void>>>(
      std::move(req), std::move(who), std::move(c), std::move(admitted.slots));
  auto& id = std::get<2>(*state).connection_id;
  app_.cluster->admit_connection(
      id, ip_key_, user_key,
      [self = this->shared_from_this(), state, bearer_subprotocol](std::optional<proto::error_info> refusal) {
        net::post(self->stream_.get_executor(), [self, state, bearer_subprotocol, refusal = std::move(refusal)] {
          auto& [req, who, c, slots] = *state;
          if (refusal) {
            self->app_.stats.rate_limited_connections.fetch_add(1, std::memory_order_relaxed);
            auto res = gateway::error_response(req, *refusal);
            res.keep_alive(false);
            return self->send(std::move(res));
          }
          self->upgrade_admitted(std::move(req), std::move(who), bearer_subprotocol, std::move(c), std::move(slots));
        });
      });
}

// Within the limits: the $connect integration decides if there is one, then the handshake.
template <class Stream>
void basic_http_session<Stream>::upgrade_admitted(gateway::request req, gateway::principal who,
                                                  bool bearer_subprotocol, ws_client c, std::shared_ptr<void> slots) {
  beast::get_lowest_layer(stream_).expires_never();
  if (!app_.routes || !app_.routes->has("$connect")) {
    std::make_shared<basic_ws_session<ws_transport_t<Stream>>>(ws_transport<Stream>::take(stream_), app_, tls_context_)
        ->run(std::move(req), std::move(who), bearer_subprotocol, std::move(c), std::move(slots));
    return;
  }
  // $connect decides before the 101 goes out: a refused client gets an HTTP answer, never a socket
  // that was upgraded and then dropped. The route's own deadline bounds the wait.
  if (c.connection_id.empty()) c.connection_id = core::connection_id();
  auto call = gateway::connect_call(req, c.connection_id, source_ip_, who.sub);
  auto state = std::make_shared<std::tuple<gateway::request, gateway::principal, ws_client, std::shared_ptr<void>>>(
      std::move(req), std::move(who), std::move(c), std::move(slots));
  app_.routes->call("$connect", std::move(call.body), std::move(call.headers), stream_.get_executor(),
                    [self = this->shared_from_this(), state, bearer_subprotocol](gateway::call_result r) {
                      auto& [req, who, c, slots] = *state;
                      auto d = gateway::decide_connect(r);
                      if (!d.admit) {
                        core::log_info("connection refused by $connect",
                                       {{"connectionId", c.connection_id},
                                        {"sourceIp", self->source_ip_},
                                        {"result", std::string(gateway::to_string(r.outcome))},
                                        {"status", d.status}});
                        self->send(gateway::connect_refusal(req, d));
                        return;
                      }
                      c.context_json = std::move(d.context_json);
                      c.admitted_by_route = true;
                      std::make_shared<basic_ws_session<ws_transport_t<Stream>>>(
                          ws_transport<Stream>::take(self->stream_), self->app_, self->tls_context_)
                          ->run(std::move(req), std::move(who), bearer_subprotocol, std::move(c), std::move(slots));
                    });
}


#define SG_UPGRADE_FOR(S)                                                                                   \
  template void basic_http_session<S>::upgrade(gateway::request, gateway::principal, bool);                 \
  template void basic_http_session<S>::upgrade_admitted(gateway::request, gateway::principal, bool,        \
                                                        basic_http_session<S>::ws_client, std::shared_ptr<void>);
SG_UPGRADE_FOR(plain_stream)
SG_UPGRADE_FOR(tls_stream)
#undef SG_UPGRADE_FOR

}  // namespace sg::io
