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
      request_ttl_ms_(std::max<std::int64_t>(cfg.stream_retention_ms, 1000) + 24 * 60 * 60 * 1000) {}

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
    auto wait = [&] {
      try {
        return std::max<std::int64_t>(1, std::stoll(arg));
      } catch (const std::exception&) {
        return std::int64_t{1000};
      }
    };
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
  }
  if (!cmds.empty()) redis_->exec(std::move(cmds), [](error_code, std::vector<redis::reply>) {});
}

}  // namespace sg::cluster
