#include "cluster/node.hpp"

#include "cluster/keys.hpp"
#include "cluster/limits.hpp"
#include "cluster/mirrors.hpp"
#include "cluster/stream_log.hpp"
#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "gateway/connection_registry.hpp"
#include "proto/event.hpp"
#include "proto/event_frame.hpp"
#include "redis/client.hpp"
#include "redis/subscriber.hpp"
#include "store/store.hpp"
#include "stream/stream_manager.hpp"

#include <boost/json.hpp>

#include <unistd.h>

namespace sg::cluster {
namespace {
// A mirror of a running stream that no session watches is dropped after this.
constexpr std::int64_t unwatched_mirror_ms = 60 * 1000;

redis::options redis_options(const core::config& cfg, const std::string& node_id) {
  redis::options o;
  o.ep = redis::parse_url(cfg.cluster);
  if (o.ep.password.empty()) o.ep.password = cfg.cluster_password;
  o.client_name = "streamgate:" + node_id;
  return o;
}

std::string hash_field(const redis::reply& r, std::string_view name) {
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2)
    if (r.elements[i].str == name) return r.elements[i + 1].str;
  return {};
}

std::int64_t to_int(const std::string& s) { return redis::parse_int(s).value_or(0); }

// Takes a dead node's place in one step: its heartbeat is still missing, nobody else reaps it, and
// its sets of streams and connections are taken whole. A node restarted under the same id beats
// before it writes anything else, so the streams of its new life are never taken for its last's.
// The streams taken are kept aside (`reaped`) for a node that was only stalled: it reads them at
// its next heartbeat and ends them as the others were told.
// KEYS: heartbeat, reaping, streams, connections, reaped. ARGV: reaper, TTL (ms), how long the
// reaped set is kept (ms). Reply: nil, or {streams, connections}.
constexpr const char* reap_lua = R"lua(
if redis.call('EXISTS', KEYS[1]) == 1 then return false end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
local streams = redis.call('SMEMBERS', KEYS[3])
local conns = redis.call('SMEMBERS', KEYS[4])
if #streams > 0 then
  redis.call('RENAME', KEYS[3], KEYS[5])
  redis.call('PEXPIRE', KEYS[5], ARGV[3])
end
redis.call('DEL', KEYS[4])
return {streams, conns}
)lua";

// Ends a dead node's stream in one step: reads the log's last entry (its id is its seq) and, unless
// it already ended the stream, appends the `interrupted` error after it, publishes it and marks the
// meta ended. One step, so that a node that was only stalled and writes again meanwhile cannot slip
// an event in between and leave the log without its end.
// KEYS: log, meta. ARGV: the frame before its seq, the frame after it, the events channel, now (ms).
// Reply: the seq appended, or 0.
constexpr const char* end_stream_lua = R"lua(
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #last == 0 then return 0 end
local id = last[1][1]
local seq = tonumber(string.sub(id, string.find(id, '-', 1, true) + 1))
local frame = last[1][2][2]
for _, t in ipairs({'"type":"stream_complete"', '"type":"stream_cancelled"', '"type":"error"'}) do
  if string.find(frame, t, 1, true) then return 0 end
end
local next = tostring(seq + 1)
local ev = ARGV[1] .. next .. ARGV[2]
redis.call('XADD', KEYS[1], '0-' .. next, 'e', ev)
redis.call('PUBLISH', ARGV[3], ev)
redis.call('HSET', KEYS[2], 'state', 'ended', 'lastSeq', next, 'endedAt', ARGV[4])
return seq + 1
)lua";

// How long a reaped node's set of ended streams waits for that node to come back.
constexpr std::int64_t reaped_set_min_ms = 60 * 1000;
}  // namespace

node::node(net::io_context& ioc, const core::config& cfg, gateway::connection_registry& connections, stream::stream_manager& streams,
           store::store& st)
    : cfg_(cfg),
      connections_(connections),
      streams_(streams),
      store_(st),
      id_(cfg.node_id.empty() ? core::random_id("n_", 6) : cfg.node_id),
      ex_(net::make_strand(ioc)),
      beat_(ex_) {
  auto opts = redis_options(cfg, id_);
  redis_ = redis::client::create(ex_, opts);
  sub_ = redis::subscriber::create(ex_, opts);
  log_ = std::make_unique<stream_log>(ex_, redis_, id_, cfg.stream_retention_ms);
  // A client that read further than this node's mirror got those events from the generating node,
  // which writes them to the shared log unless it dies, and then its streams end within the node
  // TTL (and a second for the reaper): waiting that long answers a resume with its events, or with
  // the stream's end.
  mirrors_ = std::make_unique<mirrors>(ex_, redis_, sub_, cfg.stream_log_max_bytes,
                                       std::chrono::milliseconds(cfg.node_ttl_ms + 1000));
  limits_ = std::make_unique<limits>(redis_, cfg);
}

node::~node() = default;

void node::start() {
  sub_->on_message([this](const std::string& channel, const std::string& payload) {
    if (channel == keys::control(id_)) on_control(payload);
    else mirrors_->on_event(channel, payload);
  });
  sub_->on_state([this](bool up) {
    if (up) mirrors_->catch_up_all(true);
  });
  redis_->on_state([this](bool up) {
    core::log_info(up ? "cluster: redis reachable" : "cluster: redis unreachable", {{"nodeId", id_}});
    if (!up || stopped_) return;
    // The first command on the connection (this runs before any other can be sent): the heartbeat,
    // so that no node takes this one for dead once it has written a stream (reap_lua).
    if (!leaving_) heartbeat_now();
    // A mirror whose read failed with the connection (the Pub/Sub one may have stayed up) reads
    // what it missed now: an ended stream publishes nothing more that would make it look.
    mirrors_->catch_up_all(false);
    // What could not be written while Redis was away is written now; all of it if Redis itself
    // restarted (its run_id changed), since without persistence it lost what it had.
    redis_->exec({"INFO", "server"}, [this](error_code ec, redis::reply r) {
      auto at = r.str.find("run_id:");
      auto run_id = ec || at == std::string::npos ? std::string() : r.str.substr(at + 7, 40);
      bool restarted = !run_id.empty() && !redis_run_id_.empty() && run_id != redis_run_id_;
      bool first = redis_run_id_.empty() && !run_id.empty();
      if (!run_id.empty()) redis_run_id_ = run_id;
      // A node restarted under the same --node-id ends what its previous life left running.
      if (first) end_previous_life();
      if (restarted) core::log_warn("cluster: redis restarted; writing running streams again", {{"nodeId", id_}});
      log_->resend_all(restarted);
      refresh_connections();
    });
  });
  sub_->subscribe(keys::control(id_));
  redis_->start();
  sub_->start();
  net::post(ex_, [this] { heartbeat(); });
  core::log_info("cluster node", {{"nodeId", id_}, {"nodeTtlMs", cfg_.node_ttl_ms}});
}

void node::heartbeat_now() {
  boost::json::object o{{"pid", static_cast<std::int64_t>(::getpid())}, {"at", core::now_ms()}};
  redis_->exec(std::vector<redis::command>{{"SET", keys::node(id_), boost::json::serialize(o), "PX",
                                            std::to_string(cfg_.node_ttl_ms)},
                                           {"SADD", std::string(keys::nodes), id_},
                                           {"SMEMBERS", keys::node_reaped(id_)},
                                           {"DEL", keys::node_reaped(id_)}},
               [this](error_code ec, std::vector<redis::reply> rs) {
                 if (ec || rs.size() != 4) return;
                 ended_by_others(rs[2].elements);
               });
}

// This node stalled past its TTL (a pause, a partition) and another took it for dead, ending its
// running streams `interrupted` in the shared log. It ends them the same way for its own clients,
// and writes nothing more of them, so that every client sees the end the cluster recorded.
void node::ended_by_others(const std::vector<redis::reply>& streams) {
  std::size_t ended = 0;
  for (auto& s : streams) {
    if (!log_->abandon(s.str)) continue;  // not running here (a previous life's, or ended meanwhile)
    if (streams_.interrupt(s.str, "this node missed its heartbeats and the cluster ended the stream; the text so far is kept"))
      ++ended;
  }
  if (ended == 0) return;
  counters_.interrupted_streams.fetch_add(ended, std::memory_order_relaxed);
  core::log_warn("cluster: this node was taken for dead; its streams end as the others were told",
                 {{"nodeId", id_}, {"streams", static_cast<std::int64_t>(ended)}});
}

void node::heartbeat() {
  if (stopped_ || leaving_) return;
  if (redis_->connected()) {
    heartbeat_now();
    find_dead_nodes();
    limits_->refresh();
  }
  mirrors_->sweep(unwatched_mirror_ms);
  beat_.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(cfg_.node_ttl_ms / 3, 10)));
  beat_.async_wait([this](error_code ec) {
    if (!ec) heartbeat();
  });
}

void node::find_dead_nodes() {
  redis_->exec({"SMEMBERS", std::string(keys::nodes)}, [this](error_code ec, redis::reply r) {
    if (ec || r.type != redis::reply::kind::array) return;
    std::vector<std::string> others;
    std::vector<redis::command> checks;
    for (auto& e : r.elements)
      if (e.str != id_) {
        others.push_back(e.str);
        checks.push_back({"EXISTS", keys::node(e.str)});
      }
    if (checks.empty()) return;
    redis_->exec(std::move(checks), [this, others](error_code ec, std::vector<redis::reply> rs) {
      if (ec) return;
      for (std::size_t i = 0; i < rs.size() && i < others.size(); ++i)
        if (rs[i].type == redis::reply::kind::integer && rs[i].integer == 0) reap(others[i]);
    });
  });
}

// A node whose heartbeat expired: one node (whoever takes the reaping key) ends each of its running
// streams with `interrupted`, keeping the text they reached, and removes its connections.
void node::reap(const std::string& dead) {
  redis::command claim{"EVAL",
                       reap_lua,
                       "5",
                       keys::node(dead),
                       keys::reaping(dead),
                       keys::node_streams(dead),
                       keys::node_connections(dead),
                       keys::node_reaped(dead),
                       id_,
                       std::to_string(cfg_.node_ttl_ms),
                       std::to_string(std::max(reaped_set_min_ms, 10 * cfg_.node_ttl_ms))};
  redis_->exec(std::move(claim), [this, dead](error_code ec, redis::reply r) {
    // Not ours: it beats again (a restart under its id), another node reaps it, or Redis failed.
    if (ec || r.type != redis::reply::kind::array || r.elements.size() != 2) return;
    // A node that left cleanly has nothing left behind; one that died has streams or connections.
    if (!r.elements[0].elements.empty() || !r.elements[1].elements.empty()) {
      core::log_warn("cluster: node gone, ending its streams", {{"nodeId", id_}, {"deadNode", dead}});
      counters_.reaped_nodes.fetch_add(1, std::memory_order_relaxed);
    }
    for (auto& e : r.elements[0].elements) end_stream_of_dead_node(dead, e.str);
    // The history rows it was writing end as they do after a lone node's crash.
    store_.run([dead](store::database& db) { db.interrupt_running(dead); });
    std::vector<redis::command> cmds;
    for (auto& e : r.elements[1].elements) cmds.push_back({"DEL", keys::connection(e.str)});
    cmds.push_back({"SREM", std::string(keys::nodes), dead});
    redis_->exec(std::move(cmds), [](error_code, std::vector<redis::reply>) {});
  });
}

void node::end_previous_life() {
  redis_->exec({"SMEMBERS", keys::node_streams(id_)}, [this](error_code ec, redis::reply r) {
    if (ec) return;
    for (auto& e : r.elements)
      if (!streams_.find(e.str)) end_stream_of_dead_node(id_, e.str);
  });
  redis_->exec({"SMEMBERS", keys::node_connections(id_)}, [this](error_code ec, redis::reply r) {
    if (ec) return;
    std::vector<redis::command> cmds;
    for (auto& e : r.elements)
      if (!connections_.find(e.str)) {
        cmds.push_back({"DEL", keys::connection(e.str)});
        cmds.push_back({"SREM", keys::node_connections(id_), e.str});
      }
    if (!cmds.empty()) redis_->exec(std::move(cmds), [](error_code, std::vector<redis::reply>) {});
  });
}

void node::end_stream_of_dead_node(const std::string& dead, const std::string& stream_id) {
  // The error's frame with seq 1, cut around that seq: the script puts the log's next seq there.
  proto::error_info e{proto::error_code::interrupted, "the node generating this stream stopped; the text so far is kept",
                      true, {}, {}};
  auto frame = proto::make_error(e, stream_id, 1)->json();
  constexpr std::string_view mark = "\"seq\":1";
  auto at = frame.find(mark);
  if (at == std::string::npos) return;
  at += mark.size() - 1;
  redis::command end{"EVAL",
                     end_stream_lua,
                     "2",
                     keys::log(stream_id),
                     keys::meta(stream_id),
                     frame.substr(0, at),
                     frame.substr(at + 1),
                     keys::events(stream_id),
                     std::to_string(core::now_ms())};
  auto keep = std::to_string(cfg_.stream_retention_ms);
  redis_->exec(std::vector<redis::command>{std::move(end),
                                           {"PEXPIRE", keys::meta(stream_id), keep},
                                           {"PEXPIRE", keys::log(stream_id), keep},
                                           {"SREM", keys::node_streams(dead), stream_id}},
               [this](error_code ec, std::vector<redis::reply> rs) {
                 if (!ec && !rs.empty() && rs[0].type == redis::reply::kind::integer && rs[0].integer > 0)
                   counters_.interrupted_streams.fetch_add(1, std::memory_order_relaxed);
               });
}

void node::on_control(const std::string& payload) {
  boost::system::error_code ec;
  auto v = boost::json::parse(payload, ec);
  if (ec || !v.is_object()) return;
  auto& o = v.get_object();
  auto str = [&](std::string_view k) -> std::string {
    auto* f = o.if_contains(k);
    return f && f->is_string() ? std::string(f->get_string()) : std::string();
  };
  auto op = str("op");
  if (op == "cancel") {
    // Only a stream generated here: a request for one this node does not have is dropped, never
    // sent on again.
    auto id = str("streamId");
    if (streams_.find(id)) streams_.cancel(id);
  } else if (op == "send" || op == "disconnect") {
    auto c = connections_.find(str("connectionId"));
    if (!c) return;
    if (op == "send") c->send_frame(str("frame"));
    else c->disconnect(gateway::close_codes::normal, "disconnected by the management API");
  }
}

void node::publish_control(const std::string& target, std::string payload, std::function<void(bool)> done) {
  counters_.routed_requests.fetch_add(1, std::memory_order_relaxed);
  redis_->exec({"PUBLISH", keys::control(target), std::move(payload)}, [done](error_code ec, redis::reply r) {
    if (done) done(!ec && r.type == redis::reply::kind::integer && r.integer > 0);
  });
}

void node::generating(const std::shared_ptr<stream::stream>& s, std::function<void()> stored) {
  log_->track(s, {}, std::move(stored));
}

void node::admit(admission a, net::any_io_executor ex, std::function<void(admit_result)> done) {
  // Nothing to check in Redis: the stream starts at once, with no round trip before its first token.
  if (limits_->free_pass(a)) return done(admit_result{});
  limits_->admit(std::move(a), [ex = std::move(ex), done = std::move(done)](admit_result r) mutable {
    net::post(ex, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
  });
}

void node::finished(const std::string& limit_key, const std::string& stream_id, double tokens) {
  limits_->finished(limit_key, stream_id, tokens);
}

void node::find(const std::string& id, std::uint64_t seen, net::any_io_executor ex, stream::found_fn found) {
  mirrors_->find(id, seen, std::move(ex), std::move(found));
}

void node::cancel(const std::string& id) {
  net::post(ex_, [this, id] {
    redis_->exec({"HGET", keys::meta(id), "node"}, [this, id](error_code ec, redis::reply r) {
      if (ec || r.type != redis::reply::kind::string || r.str == id_) return;
      publish_control(r.str, boost::json::serialize(boost::json::object{{"op", "cancel"}, {"streamId", id}}), {});
    });
  });
}

void node::find_connection(const std::string& id, std::function<void(std::optional<connection_info>)> done) {
  redis_->exec({"HGETALL", keys::connection(id)}, [id, done](error_code ec, redis::reply r) {
    if (ec || r.type != redis::reply::kind::array || r.elements.empty()) return done(std::nullopt);
    connection_info c;
    c.node = hash_field(r, "node");
    c.identity.connection_id = id;
    c.identity.source_ip = hash_field(r, "sourceIp");
    c.identity.user_agent = hash_field(r, "userAgent");
    c.identity.sub = hash_field(r, "sub");
    c.identity.connected_at_ms = to_int(hash_field(r, "connectedAt"));
    c.last_active_ms = to_int(hash_field(r, "lastActiveAt"));
    if (c.node.empty()) return done(std::nullopt);
    done(std::move(c));
  });
}

void node::send_to_connection(const connection_info& c, std::string frame, std::function<void(bool)> done) {
  boost::json::object o{{"op", "send"}, {"connectionId", c.identity.connection_id}, {"frame", std::move(frame)}};
  publish_control(c.node, boost::json::serialize(o), std::move(done));
}

void node::disconnect_connection(const connection_info& c, std::function<void(bool)> done) {
  boost::json::object o{{"op", "disconnect"}, {"connectionId", c.identity.connection_id}};
  publish_control(c.node, boost::json::serialize(o), std::move(done));
}

bool node::ready() const { return redis_->connected() && sub_->connected(); }

void node::admit_connection(const std::string& connection_id, const std::string& ip_key, const std::string& user_key,
                            std::function<void(std::optional<proto::error_info>)> done) {
  limits_->admit_connection({connection_id, ip_key, user_key}, std::move(done));
}

namespace {
redis::command connection_row(const std::string& node_id, const gateway::connection_identity& c,
                              std::int64_t last_active_ms) {
  return {"HSET",      keys::connection(c.connection_id), "node",      node_id, "sourceIp", c.source_ip,
          "userAgent", c.user_agent,                      "sub",       c.sub,   "connectedAt",
          std::to_string(c.connected_at_ms),              "lastActiveAt", std::to_string(last_active_ms)};
}
}  // namespace

void node::opened(const gateway::connection_identity& c) {
  limits_->connection_opened(c.connection_id);
  if (!redis_->connected()) return;  // written by the refresh after Redis is back
  redis_->exec(std::vector<redis::command>{connection_row(id_, c, c.connected_at_ms),
                                           {"PEXPIRE", keys::connection(c.connection_id),
                                            std::to_string(cfg_.connection_ttl_ms)},
                                           {"SADD", keys::node_connections(id_), c.connection_id}},
               [](error_code, std::vector<redis::reply>) {});
}

void node::closed(const std::string& id) {
  limits_->connection_closed(id);
  if (!redis_->connected()) return;
  redis_->exec(std::vector<redis::command>{{"DEL", keys::connection(id)}, {"SREM", keys::node_connections(id_), id}},
               [](error_code, std::vector<redis::reply>) {});
}

void node::refresh_connections() {
  if (!redis_->connected()) return;
  std::vector<redis::command> cmds;
  auto ttl = std::to_string(cfg_.connection_ttl_ms);
  for (auto& c : connections_.snapshot()) {
    auto& idn = c->identity();
    cmds.push_back(connection_row(id_, idn, c->last_active_ms()));
    cmds.push_back({"PEXPIRE", keys::connection(idn.connection_id), ttl});
    cmds.push_back({"SADD", keys::node_connections(id_), idn.connection_id});
  }
  if (!cmds.empty()) redis_->exec(std::move(cmds), [](error_code, std::vector<redis::reply>) {});
}

std::size_t node::unsaved_streams() const { return log_->tracked(); }

gateway::cluster_link::figures node::stats() const {
  figures f;
  f.redis_up = ready();
  f.mirrored_streams = mirrors_->size();
  f.unsaved_streams = log_->tracked();
  auto& l = log_->counters();
  f.log_events = l.events.load(std::memory_order_relaxed);
  f.log_batches = l.batches.load(std::memory_order_relaxed);
  f.log_failures = l.failures.load(std::memory_order_relaxed);
  f.reaped_nodes = counters_.reaped_nodes.load(std::memory_order_relaxed);
  f.interrupted_streams = counters_.interrupted_streams.load(std::memory_order_relaxed);
  f.routed_requests = counters_.routed_requests.load(std::memory_order_relaxed);
  return f;
}
std::size_t node::mirrored() const { return mirrors_->size(); }

void node::leave(std::function<void()> done) {
  net::post(ex_, [this, done = std::move(done)] {
    leaving_ = true;
    beat_.cancel();
    redis_->exec(std::vector<redis::command>{{"DEL", keys::node(id_)},
                                             {"SREM", std::string(keys::nodes), id_},
                                             {"DEL", keys::node_streams(id_)},
                                             {"DEL", keys::node_connections(id_)}},
                 [this, done](error_code ec, std::vector<redis::reply>) {
                   core::log_info("cluster: left", {{"nodeId", id_}, {"stored", !ec}});
                   done();
                 });
  });
}

void node::stop() {
  stopped_ = true;
  net::post(ex_, [this] {
    beat_.cancel();
    redis_->stop();
    sub_->stop();
  });
}

}  // namespace sg::cluster
