// Wiring and lifecycle: start-up, the connection-table sweep, and the graceful drain.
#include "gateway/server.hpp"

#include "cluster/node.hpp"

#include "core/asio.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "core/pacer.hpp"
#include "core/service_notify.hpp"
#include "core/thread_class.hpp"
#include "gateway/admission.hpp"
#include "gateway/app.hpp"
#include "gateway/integrations.hpp"
#include "gateway/route_messages.hpp"
#include "gateway/security.hpp"
#include "net/listener.hpp"
#include "net/send_batch.hpp"
#include "provider/provider_config.hpp"
#include "store/store.hpp"
#include "stream/stream_manager.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/array.hpp>
#include <boost/asio/ssl/context.hpp>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <time.h>

#include <unistd.h>  // environ

namespace sg::gateway {

namespace {

// TLS 1.2+ with forward-secret AEAD suites only (TLS 1.3 suites are OpenSSL's defaults).
std::shared_ptr<net::ssl::context> make_tls_context(const core::config& cfg) {
  auto ctx = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                   net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  SSL_CTX_set_cipher_list(ctx->native_handle(),
                          "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                          "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305");
  try {
    ctx->use_certificate_chain_file(cfg.tls_cert);
    ctx->use_private_key_file(cfg.tls_key, net::ssl::context::pem);
  } catch (const std::exception& e) {
    throw std::invalid_argument("tls: cannot load " + cfg.tls_cert + " / " + cfg.tls_key + ": " + e.what());
  }
  return ctx;
}

}  // namespace

namespace {
// How often live connections push their rows' TTL forward (and dead rows expire).
constexpr auto connection_table_refresh = std::chrono::seconds(30);
// After the drain deadline interrupts the streams, and again after connections are told to close:
// how long the drain waits for them before it goes on regardless.
constexpr auto drain_grace = std::chrono::seconds(2);
// How often the drain looks whether every connection has closed and every $disconnect went out.
constexpr auto close_poll = std::chrono::milliseconds(10);
}  // namespace

// A shard's io_context, whose pending work can be destroyed while what it refers to still lives.
class shard_context : public net::io_context {
 public:
  using net::io_context::io_context;
  /// Destroys every operation still pending, such as a session's read on a socket its client never
  /// closed. The sessions those operations hold go now, releasing their connection slots into the
  /// app, rather than in the io_context's destructor, after the app is gone.
  void destroy_pending() { shutdown(); }
};

struct server::impl {
  explicit impl(core::config c) : cfg(std::move(c)) {}

  core::config cfg;
  // The time slice shard 0's thread (this one) has, as the kernel reports it (0: it reports none).
  std::int64_t io_slice_us = 0;
  // Shard 0. Each I/O thread runs its own io_context (a shard): a connection and the streams it
  // starts live on one shard, so their handlers need no strand and a token reaches its socket
  // without crossing threads. A hint of 1 lets a shard queue its own posts without a lock.
  // The other shards are declared first so they outlive shard 0: a pending accept on shard 0
  // holds a socket of the shard it was meant for.
  std::vector<std::unique_ptr<shard_context>> more_shards;
  shard_context ioc{1};
  std::vector<net::executor_work_guard<net::io_context::executor_type>> shard_work;
  std::unique_ptr<store::store> st;
  std::unique_ptr<stream::stream_manager> streams;
  connection_registry connections;
  std::unique_ptr<cluster::node> cluster_node;  // --cluster: this process as one node of many
  std::unique_ptr<security> sec;
  std::unique_ptr<app> a;  // made from the services above once they all exist; goes before them
  std::shared_ptr<io::listener> lst;
  std::unique_ptr<net::signal_set> signals;
  std::unique_ptr<net::signal_set> reload_signal;
  std::unique_ptr<net::steady_timer> table_sweep;
  std::unique_ptr<net::steady_timer> drain_timer;
  std::unique_ptr<net::steady_timer> watchdog;
  std::chrono::steady_clock::time_point drain_deadline;
  // SIGHUP's file reads run here, never on an I/O thread. Declared last: stopped and joined first.
  net::thread_pool reload_thread{1};
  bool draining = false;
  bool interrupted = false;
  bool streams_finished = false;  // the drain has gone on to close the connections

  void sweep_connection_table() {
    table_sweep->expires_after(connection_table_refresh);
    table_sweep->async_wait([this](error_code ec) {
      if (ec || draining) return;
      // Live connections push their TTL forward; rows of connections that vanished expire.
      if (cluster_node) cluster_node->refresh_connections();
      auto ids = a->connections.ids();
      auto now = core::now_ms();
      auto ttl = now + cfg.connection_ttl_ms;
      st->run([ids, now, ttl](store::database& db) {
        db.refresh_connections(ids, now, ttl);
        db.expire_connections(now);
      });
      sweep_connection_table();
    });
  }

  // The ping comes from shard 0's own loop, so a wedged loop stops it and the service manager
  // restarts the process; it goes on during the drain, which may take the whole drain timeout.
  void ping_watchdog(std::chrono::microseconds every) {
    core::service_notify("WATCHDOG=1");
    watchdog->expires_after(every);
    watchdog->async_wait([this, every](error_code ec) {
      if (!ec) ping_watchdog(every);
    });
  }

  void begin_drain() {
    if (draining) {
      // A second signal: stop now.
      core::log_warn("second signal: stopping without waiting");
      stop_shards();
      return;
    }
    draining = true;
    a->draining = true;
    core::service_notify("STOPPING=1");
    core::log_info("draining", {{"runningStreams", streams->running()}, {"timeoutMs", cfg.drain_timeout_ms}});
    lst->stop();
    streams->stop_accepting();
    drain_deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(cfg.drain_timeout_ms);
    // In a cluster the clients go elsewhere at once (1012: reconnect to another node) and resume
    // there from the shared log, which this node keeps writing until its streams are done.
    if (cluster_node) {
      for (auto& c : a->connections.snapshot()) c->disconnect(websocket::close_code::service_restart, "service restart");
      for (auto& end : a->sse_responses.snapshot()) end();
    }
    wait_for_streams();
  }

  // SIGINT/SIGTERM drain; SIGHUP reloads on the reload thread; the systemd watchdog, when asked for.
  void handle_signals() {
    signals = std::make_unique<net::signal_set>(ioc, SIGINT, SIGTERM);
    wait_for_stop_signal();
    reload_signal = std::make_unique<net::signal_set>(ioc, SIGHUP);
    wait_for_reload_signal();
    if (auto every = core::watchdog_ping_interval()) {
      watchdog = std::make_unique<net::steady_timer>(ioc);
      ping_watchdog(*every);
    }
  }

  void wait_for_stop_signal() {
    signals->async_wait([this](error_code ec, int sig) {
      if (ec) return;
      core::log_info("signal", {{"signal", sig}});
      net::post(drain_timer->get_executor(), [this] { begin_drain(); });
      wait_for_stop_signal();
    });
  }

  void wait_for_reload_signal() {
    reload_signal->async_wait([this](error_code ec, int) {
      if (ec) return;
      // Reading keys and certificates is file I/O: it runs on the reload thread, one reload at a
      // time, and what it builds replaces the old whole (connections in progress keep theirs).
      net::post(reload_thread, [this] { reload_files(); });
      wait_for_reload_signal();
    });
  }

  // The log lines that say where the server listens (and the admin key it made), then READY=1.
  void announce(const tcp::endpoint& ep, bool tls, unsigned threads, bool generated_admin_key) {
    auto scheme = tls ? "https://" : "http://";
    auto host_of = [](const net::ip::address& a) {
      if (a.is_unspecified()) return std::string("localhost");  // 0.0.0.0 / :: : reachable (and allowed) as localhost
      return a.is_v6() ? "[" + a.to_string() + "]" : a.to_string();
    };
    if (generated_admin_key) {
      // The fragment never reaches the server or a proxy's log; the admin page keeps it for the tab.
      core::log_warn("no --admin-key configured: generated one for this run",
                     {{"adminKey", cfg.admin_key},
                      {"adminUrl", scheme + host_of(ep.address()) + ":" + std::to_string(ep.port()) + "/admin#key=" +
                                       cfg.admin_key}});
    }
    boost::json::array hosts;
    for (auto& h : sec->allowed_hosts().describe()) hosts.emplace_back(h);
    core::log_info("listening", {{"address", ep.address().to_string()},
                                 {"port", ep.port()},
                                 {"tls", tls},
                                 {"url", (tls ? "https://" : "http://") + (ep.address().is_v6() ? "[" + ep.address().to_string() + "]"
                                                                           : ep.address().to_string()) +
                                             ":" + std::to_string(ep.port()) + "/"},
                                 {"allowedHosts", hosts},
                                 {"threads", threads},
                                 {"ioSliceUs", io_slice_us},
                                 {"maxConnections", a->max_connections},
                                 {"provider", cfg.provider},
                                 {"dataDir", cfg.data_dir}});
    // Ready only now: bound, serving (the accept loop runs once the shards run) and every handler in place.
    core::service_notify("READY=1\nSTATUS=listening on " + ep.address().to_string() + ":" + std::to_string(ep.port()));
  }

  // Runs every shard, shard 0 on this thread, until the drain stops them.
  void run_shards(const std::vector<net::io_context*>& shards) {
    std::vector<std::thread> pool;
    for (std::size_t i = 0; i < more_shards.size(); ++i)
      pool.emplace_back([io = more_shards[i].get(), i, slice = cfg.io_slice_us] {
        core::name_this_thread("sg-io-" + std::to_string(i + 1));
        if (slice) core::ask_time_slice(std::chrono::microseconds(slice));
        io->run();
      });
    ioc.run();
    for (auto& t : pool) t.join();
    // Completions queued when the shards stopped (the cancelled accept, closed sockets) run now, on
    // this thread, while every object they refer to is alive; nothing is left for the destructors.
    for (auto* io : shards) {
      io->restart();
      io->poll();
    }
  }

  void reload_files() {
    // RELOADING=1 carries the monotonic time, as systemd 253+ asks; READY=1 when the reload is done.
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    core::service_notify("RELOADING=1\nMONOTONIC_USEC=" +
                         std::to_string(std::uint64_t(now.tv_sec) * 1000000u + std::uint64_t(now.tv_nsec) / 1000u));
    reload_keys_and_certificate();
    core::service_notify("READY=1");
  }

  void reload_keys_and_certificate() {
    if (auto r = sec->reload(); !r) core::log_error("reload failed; keeping the old keys", {{"error", r.error()}});
    else core::log_info("reloaded", {{"what", "auth keys"}});
    if (cfg.tls_cert.empty()) return;
    try {
      a->tls.store(make_tls_context(cfg));
      core::log_info("reloaded", {{"what", "tls certificate"}});
    } catch (const std::exception& e) {
      core::log_error("reload failed; keeping the old certificate", {{"error", e.what()}});
    }
  }

  void stop_shards() {
    shard_work.clear();
    for (auto& s : more_shards) s->stop();
    ioc.stop();
  }

  // The last stream's end is notified; the timer only bounds the wait.
  void wait_for_streams() {
    streams->when_idle([this] { net::post(drain_timer->get_executor(), [this] { streams_done(); }); });
    if (!streams_finished) arm_drain_deadline();
  }

  void arm_drain_deadline() {
    drain_timer->expires_at(drain_deadline);
    drain_timer->async_wait([this](error_code ec) {
      if (ec || streams_finished) return;  // cancelled: the last stream ended first
      if (!interrupted) {
        interrupted = true;
        core::log_warn("drain timeout: interrupting streams", {{"runningStreams", streams->running()}});
        streams->interrupt_all();
        drain_deadline = std::chrono::steady_clock::now() + drain_grace;
        arm_drain_deadline();
        return;
      }
      streams_done();
    });
  }

  void streams_done() {
    if (streams_finished) return;
    streams_finished = true;
    drain_timer->cancel();
    if (!cluster_node) return close_connections();
    // Every event of this node's streams is in Redis before the node says it leaves.
    drain_deadline = std::chrono::steady_clock::now() + drain_grace;
    wait_for_shared_log();
  }

  void wait_for_shared_log() {
    if (cluster_node->unsaved_streams() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      cluster_node->leave([this] { net::post(drain_timer->get_executor(), [this] { close_connections(); }); });
      return;
    }
    drain_timer->expires_after(close_poll);
    drain_timer->async_wait([this](error_code) { wait_for_shared_log(); });
  }

  void close_connections() {
    // In a cluster, whatever connected during the drain is sent elsewhere too (1012).
    auto code = cluster_node ? websocket::close_code::service_restart : websocket::close_code::going_away;
    for (auto& c : a->connections.snapshot()) c->disconnect(code, cluster_node ? "service restart" : "server shutting down");
    // Give the close handshakes a moment, then stop whatever is left (idle keep-alive sockets).
    drain_deadline = std::chrono::steady_clock::now() + drain_grace;
    wait_for_closes();
  }

  void wait_for_closes() {
    // The $disconnect calls of the connections just closed go out before the process stops.
    bool idle = a->connections.size() == 0 && a->routes->pending_notifications() == 0;
    if (idle || std::chrono::steady_clock::now() >= drain_deadline) {
      streams->stop();
      if (cluster_node) cluster_node->stop();
      table_sweep->cancel();
      if (watchdog) watchdog->cancel();
      if (reload_signal) reload_signal->cancel();
      stop_shards();
      return;
    }
    drain_timer->expires_after(close_poll);
    drain_timer->async_wait([this](error_code) { wait_for_closes(); });
  }
};

server::server(core::config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
server::~server() = default;

int server::run() {
  auto& m = *impl_;
  auto& cfg = m.cfg;
  m.st = std::make_unique<store::store>(store::options{.database = cfg.database,
                                                       .data_dir = cfg.data_dir,
                                                       .max_bytes = cfg.store_max_bytes,
                                                       .pool_size = cfg.database_pool_size});
  core::log_info("store open", {{"database", store::database_url::parse(cfg.database, cfg.data_dir).redacted()},
                                {"engine", m.st->engine()},
                                {"connections", m.st->pool_size()}});
  // Rows left behind by a crash expire by TTL before the first client arrives, and the answers that
  // were running end `interrupted` with the text they had reached: every node's when this node is
  // alone, else this node's own (another node's are ended when its heartbeat expires).
  if (cfg.node_id.empty()) cfg.node_id = core::random_id("n_", 6);
  int expired = 0, interrupted_answers = 0;
  m.st->run([&, node = cfg.cluster.empty() ? std::string() : cfg.node_id](store::database& db) {
    expired = db.expire_connections(core::now_ms());
    interrupted_answers = db.interrupt_running(node);
  });
  m.st->flush();
  if (expired) core::log_info("expired stale connection rows", {{"rows", expired}});
  if (interrupted_answers)
    core::log_warn("answers cut short by the last stop are marked interrupted", {{"answers", interrupted_answers}});

  // demo, the config's [providers.*] tables and the SDKs' environment conventions, on one HTTP client.
  auto env = provider::environment_map(environ);
  auto built = provider::build_providers(cfg, env);
  // [routes.*]: the team's own service answers $connect, $disconnect, custom actions and $default.
  auto routes = load_route_settings(cfg.config_file, env);
  for (auto& r : routes) {
    if (is_builtin_action(r.name))
      core::log_warn("a route overrides a built-in action", {{"route", r.name}, {"url", r.url}});
    core::log_info("route integration", {{"route", r.name}, {"url", r.url}, {"timeoutMs", r.timeout_ms}});
  }

  // The management API always needs a key: without one configured, this run makes its own and
  // logs it once (below), so a developer's `make run` stays one step and no peer address is trusted.
  bool generated_admin_key = cfg.admin_key.empty();
  if (generated_admin_key) cfg.admin_key = core::random_id("", 24);
  m.sec = std::make_unique<security>(cfg);
  if (cfg.tls_cert.empty() != cfg.tls_key.empty()) throw std::invalid_argument("--tls-cert and --tls-key go together");
  m.streams = std::make_unique<stream::stream_manager>(m.ioc, cfg, *m.st, std::move(built.providers));
  if (!cfg.cluster.empty()) {
    m.cluster_node = std::make_unique<cluster::node>(m.ioc, cfg, m.connections, *m.streams, *m.st);
    m.streams->set_remote(m.cluster_node.get());
    m.connections.set_observer(m.cluster_node.get());
  }
  m.a = std::make_unique<app>(cfg, app_services{.sec = *m.sec,
                                                .store = *m.st,
                                                .streams = *m.streams,
                                                .connections = m.connections,
                                                .models = built.catalog,
                                                .routes = std::make_shared<integrations>(m.ioc, std::move(routes)),
                                                .cluster = m.cluster_node.get(),
                                                .tls = cfg.tls_cert.empty() ? nullptr : make_tls_context(cfg),
                                                .web = load_web_files(cfg.web_root),
                                                .max_connections = effective_max_connections(cfg)});
  if (m.cluster_node) m.cluster_node->start();

  unsigned threads = cfg.threads ? cfg.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<net::io_context*> shards{&m.ioc};
  for (unsigned i = 1; i < threads; ++i) {
    m.more_shards.push_back(std::make_unique<shard_context>(1));
    m.shard_work.push_back(net::make_work_guard(*m.more_shards.back()));
    shards.push_back(m.more_shards.back().get());
  }
  // Each shard's timer wheel reports how late its ticks run (/metrics: the event loop's lag).
  for (auto* io : shards) net::use_service<core::pacer>(*io).report_lag(&m.a->stats.event_loop_lag);
  // The frames a pacer's run writes leave in one submission (io::send_batch).
  core::pacer::set_run_hooks({&io::send_batch::open_window, &io::send_batch::close_window});
  const bool tls = m.a->tls.load() != nullptr;
  auto address = net::ip::make_address(cfg.listen_host);
  m.lst = std::make_shared<io::listener>(m.ioc, shards, tcp::endpoint{address, cfg.listen_port}, *m.a);
  auto ep = m.lst->local_endpoint();
  m.sec->set_listen_address(cfg.listen_host, ep.port(), tls);
  m.lst->run();
  m.streams->start_sweeper();
  m.streams->start_checkpoints();
  m.table_sweep = std::make_unique<net::steady_timer>(m.ioc);
  m.drain_timer = std::make_unique<net::steady_timer>(net::make_strand(m.ioc));
  m.sweep_connection_table();

  m.handle_signals();

  // Shard 0 runs on this thread. Asked only now: the threads made before (the store's) keep the
  // kernel's default slice; with a short one of its own, an I/O thread woken on their core does not
  // wait out theirs. The other shards' threads ask for it as they start.
  if (cfg.io_slice_us && !core::ask_time_slice(std::chrono::microseconds(cfg.io_slice_us)))
    core::log_warn("the kernel refused the I/O threads' time slice; they keep its default",
                   {{"ioSliceUs", cfg.io_slice_us}, {"error", std::strerror(errno)}});
  m.io_slice_us = core::this_thread_time_slice().count();

  // Announced only once every signal handler is in place: a SIGHUP or SIGTERM sent by someone
  // who read this line must never meet the default action.
  m.announce(ep, tls, threads, generated_admin_key);

  m.run_shards(shards);
  // What is still pending (reads on sockets their clients never closed) goes while the app lives.
  m.ioc.destroy_pending();
  for (auto& shard : m.more_shards) shard->destroy_pending();
  if (m.cluster_node) {
    // Nothing may reach the node once it is gone (connections closed by the destructors, say).
    m.connections.set_observer(nullptr);
    m.streams->set_remote(nullptr);
    m.a->cluster = nullptr;
  }
  m.st->flush();
  core::log_info("stopped");
  return 0;
}

void server::stop() {
  net::post(impl_->drain_timer->get_executor(), [this] { impl_->begin_drain(); });
}

}  // namespace sg::gateway
