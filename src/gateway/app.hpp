// The state every session shares: configuration, streams, store, connections, counters, web files.
#pragma once

#include "core/config.hpp"
#include "core/histogram.hpp"
#include "core/rate_limit.hpp"
#include "gateway/connection_registry.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}
namespace sg::provider {
class model_catalog;
}
namespace sg::store {
class store;
}
namespace sg::stream {
class stream_manager;
}

namespace sg::gateway {

class security;
class integrations;
class cluster_link;

struct counters {
  std::atomic<std::int64_t> ws_open{0}, sse_open{0};
  std::atomic<std::uint64_t> ws_accepted{0}, http_requests{0}, merged_chunks{0}, slow_closes{0}, bad_messages{0};
  std::atomic<std::uint64_t> events_sent{0};
  std::atomic<std::uint64_t> auth_failures{0}, origin_refusals{0}, admin_refusals{0};
  std::atomic<std::uint64_t> rate_limited_connections{0};
  std::atomic<std::uint64_t> capacity_refusals{0};  // connections closed at once: --max-connections reached
  std::atomic<std::uint64_t> request_timeouts{0};   // a request's header or body came too slowly, or none came
  std::atomic<std::int64_t> open_sockets{0};        // client sockets of every kind
  std::atomic<std::int64_t> outbound_bytes{0};  // queued for clients, all connections
  core::histogram chunk_lateness;               // chunk written to the socket − when it was due
  core::histogram event_loop_lag;               // a pacer's timer handler run − the tick it was armed for
};

struct static_file {
  std::string content_type;
  std::string body;
};

/// What the app serves at "/": a built web app, or the built-in test page.
struct web_content {
  std::map<std::string, static_file> files;  // path ("/index.html") → file, loaded at start-up
  bool spa = false;                          // files holds a built app (else the test page)
};

/// The services the app is made of. Each is made before the app and outlives it.
struct app_services {
  security& sec;
  store::store& store;
  stream::stream_manager& streams;
  connection_registry& connections;
  std::shared_ptr<const provider::model_catalog> models;  // which provider serves which model
  std::shared_ptr<integrations> routes;                   // [routes.*]: $connect, $disconnect, custom actions, $default
  cluster_link* cluster = nullptr;                        // cluster mode: the other nodes (null when alone)
  std::shared_ptr<boost::asio::ssl::context> tls;         // null: plain HTTP
  web_content web;
  unsigned max_connections = 0;  // admission.hpp's effective_max_connections()
};

/// The state every session and handler shares. Made whole at start-up, from the configuration and
/// the services; nothing in it is wired in later (the TLS context is swapped by a reload, and the
/// cluster link is cut when the node stops).
struct app {
  app(const core::config& c, app_services s)
      : cfg(c),
        sec(&s.sec),
        connection_rate(c.rate_connections_per_second, std::max(1.0, c.rate_connections_per_second * 2)),
        connections_per_ip(c.max_connections_per_ip),
        connections_per_user(c.max_connections_per_user),
        max_connections(s.max_connections),
        store(&s.store),
        streams(&s.streams),
        models(std::move(s.models)),
        connections(s.connections),
        routes(std::move(s.routes)),
        cluster(s.cluster),
        web_files(std::move(s.web.files)),
        spa(s.web.spa),
        tls(std::move(s.tls)) {}
  app(const app&) = delete;
  app& operator=(const app&) = delete;

  const core::config cfg;
  security* const sec;
  core::token_buckets connection_rate;       // new connections per source IP
  core::concurrency_limit connections_per_ip;
  core::concurrency_limit connections_per_user;
  const unsigned max_connections;  // admission.hpp's effective_max_connections()
  store::store* const store;
  stream::stream_manager* const streams;
  const std::shared_ptr<const provider::model_catalog> models;
  connection_registry& connections;
  sse_registry sse_responses;
  const std::shared_ptr<integrations> routes;
  /// Cut (null) when the node stops, after the I/O threads, so nothing reaches it once it is gone.
  cluster_link* cluster;
  counters stats;
  const std::map<std::string, static_file> web_files;
  const bool spa;
  std::atomic<bool> draining{false};
  /// The TLS context for new connections (null: plain HTTP); replaced whole on reload.
  std::atomic<std::shared_ptr<boost::asio::ssl::context>> tls;
};

/// Loads `root` into memory (files below 8 MiB) so no file I/O happens on an I/O thread.
/// Without an index.html there, the built-in test page is served at "/".
web_content load_web_files(const std::string& root);

}  // namespace sg::gateway
