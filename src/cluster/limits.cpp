#include "cluster/limits.hpp"

#include "core/clock.hpp"
#include "redis/client.hpp"

#include <cmath>

namespace sg::cluster {
namespace {

// Keys of one user share the hash tag {limit key}: on a Redis Cluster one script touches one shard.
std::string key(std::string_view name, const std::string& limit_key) {
  return "sg:lim:{" + limit_key + "}:" + std::string(name);
}

// KEYS: starts bucket, concurrency set, tokens bucket, request key ("" without a requestId)
// ARGV: now ms, start rate/ms, start burst, max concurrent, stream id, slot ttl ms, token rate/ms,
//       token burst, request ttl ms
// Returns {0, ""} admitted; {1, wait ms} token quota; {2, wait ms} concurrency; {3, wait ms} starts;
// {4, stream id} a retried request that already started that stream.
constexpr const char* admit_lua = R"lua(
local now = tonumber(ARGV[1])
if KEYS[4] ~= '' then
  local existing = redis.call('GET', KEYS[4])
  if existing then return {4, existing} end
end
local function level(key, rate, burst)
  local b = redis.call('HMGET', key, 't', 'at')
  local tokens = tonumber(b[1]) or burst
  local at = tonumber(b[2]) or now
  return math.min(burst, tokens + math.max(0, now - at) * rate)
end
local trate, tburst = tonumber(ARGV[7]), tonumber(ARGV[8])
if trate > 0 then
  local t = level(KEYS[3], trate, tburst)
  if t < 1 then return {1, tostring(math.ceil((1 - t) / trate))} end
end
local limit = tonumber(ARGV[4])
if limit > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= limit then return {2, '1000'} end
end
local srate, sburst = tonumber(ARGV[2]), tonumber(ARGV[3])
if srate > 0 then
  local s = level(KEYS[1], srate, sburst)
  if s < 1 then return {3, tostring(math.ceil((1 - s) / srate))} end
  redis.call('HSET', KEYS[1], 't', tostring(s - 1), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(sburst / srate) + 1000)
end
if limit > 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[6]), ARGV[5])
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[6]))
end
if KEYS[4] ~= '' then redis.call('SET', KEYS[4], ARGV[5], 'PX', tonumber(ARGV[9])) end
return {0, ''}
)lua";

// KEYS: tokens bucket, concurrency set. ARGV: now ms, token rate/ms, token burst, tokens, stream id
constexpr const char* charge_lua = R"lua(
redis.call('ZREM', KEYS[2], ARGV[5])
local rate, burst, n = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if rate <= 0 or n <= 0 then return 0 end
local now = tonumber(ARGV[1])
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local tokens = tonumber(b[1]) or burst
local at = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * rate) - n
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate) + 1000)
return 1
)lua";

// KEYS: the address's connections, the user's connections ('' when anonymous), the address's
// connect-rate bucket. ARGV: now ms, slot ttl ms, connection id, max per address, max per user,
// rate/ms, burst. Returns {0, ''} admitted; {1, wait ms} too fast; {2, ''} address full; {3, ''} user full.
constexpr const char* connection_lua = R"lua(
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local per_ip, per_user = tonumber(ARGV[4]), tonumber(ARGV[5])
if per_ip > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  if redis.call('ZCARD', KEYS[1]) >= per_ip then return {2, ''} end
end
if per_user > 0 and KEYS[2] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  if redis.call('ZCARD', KEYS[2]) >= per_user then return {3, ''} end
end
local rate, burst = tonumber(ARGV[6]), tonumber(ARGV[7])
if rate > 0 then
  local b = redis.call('HMGET', KEYS[3], 't', 'at')
  local tokens = math.min(burst, (tonumber(b[1]) or burst) + math.max(0, now - (tonumber(b[2]) or now)) * rate)
  if tokens < 1 then return {1, tostring(math.ceil((1 - tokens) / rate))} end
  redis.call('HSET', KEYS[3], 't', tostring(tokens - 1), 'at', tostring(now))
  redis.call('PEXPIRE', KEYS[3], math.ceil(burst / rate) + 1000)
end
if per_ip > 0 then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], ttl)
end
if per_user > 0 and KEYS[2] ~= '' then
  redis.call('ZADD', KEYS[2], now + ttl, ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ttl)
end
return {0, ''}
)lua";

// An upgrade admitted but not completed within this is no longer kept alive (its slot lapses).
constexpr std::int64_t upgrade_grace_ms = 30 * 1000;
// A connection's slots live this long unless refreshed, and are refreshed a third as often: a dead
// node's connections stop counting within 30 s, at one command per connection every 10 s.
constexpr std::int64_t connection_slot_ttl_ms = 30 * 1000;

std::string num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

limits::limits(std::shared_ptr<redis::client> redis, const core::config& cfg)
    : redis_(std::move(redis)),
      start_rate_per_ms_(cfg.rate_streams_per_minute / 60000.0),
      start_burst_(std::max(1.0, cfg.rate_streams_per_minute)),
      max_concurrent_(cfg.max_streams_per_user),
      token_rate_per_ms_(cfg.rate_tokens_per_minute / 60000.0),
      token_burst_(cfg.rate_tokens_per_minute),
      slot_ttl_ms_(std::max<std::int64_t>(cfg.node_ttl_ms, 1000)),
      request_ttl_ms_(std::max<std::int64_t>(cfg.stream_retention_ms, 1000) + 24 * 60 * 60 * 1000),
      max_per_ip_(cfg.max_connections_per_ip),
      max_per_user_(cfg.max_connections_per_user),
      connect_rate_per_ms_(cfg.rate_connections_per_second / 1000.0),
      connect_burst_(std::max(1.0, cfg.rate_connections_per_second * 2)) {}

const char* limits::connection_script() { return connection_lua; }

bool limits::connection_free_pass(const connection_admission& a) const {
  return max_per_ip_ == 0 && connect_rate_per_ms_ <= 0 && (max_per_user_ == 0 || a.user_key.empty());
}

void limits::admit_connection(connection_admission a, std::function<void(std::optional<proto::error_info>)> done) {
  if (connection_free_pass(a)) return done(std::nullopt);
  redis::command cmd{"EVAL",
                     connection_lua,
                     "3",
                     key("conns", a.ip_key),
                     a.user_key.empty() ? std::string() : key("conns", "user:" + a.user_key),
                     key("connect-rate", a.ip_key),
                     std::to_string(core::now_ms()),
                     std::to_string(connection_slot_ttl_ms),
                     a.connection_id,
                     std::to_string(max_per_ip_),
                     std::to_string(max_per_user_),
                     num(connect_rate_per_ms_),
                     num(connect_burst_)};
  redis_->exec(std::move(cmd), [this, a, done = std::move(done)](error_code ec, redis::reply r) {
    if (ec || r.type != redis::reply::kind::array || r.elements.size() < 2) return done(std::nullopt);
    auto code = r.elements[0].integer;
    if (code == 0) {
      std::lock_guard lock(mu_);
      connections_[a.connection_id] = connection_slot{a.ip_key, a.user_key, false, core::now_ms()};
      return done(std::nullopt);
    }
    std::int64_t wait = 1000;
    if (code == 1) wait = std::max<std::int64_t>(1, redis::parse_int(r.elements[1].str).value_or(1000));
    std::string why = code == 1 ? "too many new connections from this address"
                      : code == 2 ? "too many connections from this address (limit " + std::to_string(max_per_ip_) + ")"
                                  : "too many connections for this user (limit " + std::to_string(max_per_user_) + ")";
    done(proto::error_info{proto::error_code::rate_limited, why, true, wait, {}});
  });
}

void limits::connection_opened(const std::string& connection_id) {
  std::lock_guard lock(mu_);
  if (auto it = connections_.find(connection_id); it != connections_.end()) it->second.open = true;
}

void limits::connection_closed(const std::string& connection_id) {
  connection_slot slot;
  {
    std::lock_guard lock(mu_);
    auto it = connections_.find(connection_id);
    if (it == connections_.end()) return;
    slot = std::move(it->second);
    connections_.erase(it);
  }
  std::vector<redis::command> cmds;
  if (max_per_ip_ > 0) cmds.push_back({"ZREM", key("conns", slot.ip_key), connection_id});
  if (max_per_user_ > 0 && !slot.user_key.empty())
    cmds.push_back({"ZREM", key("conns", "user:" + slot.user_key), connection_id});
  if (!cmds.empty()) redis_->exec(std::move(cmds), [](error_code, std::vector<redis::reply>) {});
}

const char* limits::admit_script() { return admit_lua; }
const char* limits::charge_script() { return charge_lua; }

bool limits::free_pass(const stream::remote_streams::admission& a) const {
  return start_rate_per_ms_ <= 0 && max_concurrent_ == 0 && token_rate_per_ms_ <= 0 && a.request_key.empty();
}

void limits::admit(stream::remote_streams::admission a, std::function<void(stream::remote_streams::admit_result)> done) {
  using result = stream::remote_streams::admit_result;
  if (free_pass(a)) return done(result{});
  redis::command cmd{"EVAL",
                     admit_lua,
                     "4",
                     key("starts", a.limit_key),
                     key("streams", a.limit_key),
                     key("tokens", a.limit_key),
                     a.request_key.empty() ? std::string() : key("req:" + a.request_key, a.limit_key),
                     std::to_string(core::now_ms()),
                     num(start_rate_per_ms_),
                     num(start_burst_),
                     std::to_string(max_concurrent_),
                     a.stream_id,
                     std::to_string(slot_ttl_ms_),
                     num(token_rate_per_ms_),
                     num(token_burst_),
                     std::to_string(request_ttl_ms_)};
  redis_->exec(std::move(cmd), [this, a, done = std::move(done)](error_code ec, redis::reply r) {
    result out;
    if (ec || r.type != redis::reply::kind::array || r.elements.size() < 2) {
      // Redis is unreachable: this node applies the limits alone until it is back.
      out.unchecked = true;
      return done(std::move(out));
    }
    auto code = r.elements[0].integer;
    auto& arg = r.elements[1].str;
    auto wait = [&] { return std::max<std::int64_t>(1, redis::parse_int(arg).value_or(1000)); };
    if (code == 0) {
      if (max_concurrent_ > 0) {
        std::lock_guard lock(mu_);
        slots_[a.stream_id] = a.limit_key;
      }
    } else if (code == 4) {
      out.existing = arg;
    } else {
      std::string why = code == 1   ? "token quota used up for this minute"
                        : code == 2 ? "too many concurrent streams for this user (limit " +
                                          std::to_string(max_concurrent_) + ")"
                                    : "too many streams started this minute";
      out.error = proto::error_info{proto::error_code::rate_limited, why, true, wait(), {}};
    }
    done(std::move(out));
  });
}

void limits::finished(const std::string& limit_key, const std::string& stream_id, double tokens) {
  {
    std::lock_guard lock(mu_);
    slots_.erase(stream_id);
  }
  if (max_concurrent_ == 0 && (token_rate_per_ms_ <= 0 || tokens <= 0)) return;
  redis_->exec(redis::command{"EVAL", charge_lua, "2", key("tokens", limit_key), key("streams", limit_key),
                              std::to_string(core::now_ms()), num(token_rate_per_ms_), num(token_burst_), num(tokens),
                              stream_id},
               [](error_code, redis::reply) {});
}

void limits::refresh() {
  std::vector<redis::command> cmds;
  auto until = std::to_string(core::now_ms() + slot_ttl_ms_);
  {
    std::lock_guard lock(mu_);
    for (auto& [id, k] : slots_) cmds.push_back({"ZADD", key("streams", k), "XX", until, id});
    auto now = core::now_ms();
    bool due = now - connections_refreshed_ms_ >= connection_slot_ttl_ms / 3;
    if (due) connections_refreshed_ms_ = now;
    auto conn_until = std::to_string(now + connection_slot_ttl_ms);
    for (auto it = connections_.begin(); due && it != connections_.end();) {
      auto& c = it->second;
      if (!c.open && now - c.admitted_ms > upgrade_grace_ms) {  // the upgrade never completed
        it = connections_.erase(it);
        continue;
      }
      if (max_per_ip_ > 0) cmds.push_back({"ZADD", key("conns", c.ip_key), "XX", conn_until, it->first});
      if (max_per_user_ > 0 && !c.user_key.empty())
        cmds.push_back({"ZADD", key("conns", "user:" + c.user_key), "XX", conn_until, it->first});
      ++it;
    }
  }
  if (!cmds.empty()) redis_->exec(std::move(cmds), [](error_code, std::vector<redis::reply>) {});
}

}  // namespace sg::cluster
