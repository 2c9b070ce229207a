#include "cluster/mirrors.hpp"

#include "cluster/keys.hpp"
#include "core/clock.hpp"
#include "core/log.hpp"
#include "proto/error_code.hpp"
#include "proto/event_frame.hpp"
#include "redis/client.hpp"
#include "redis/subscriber.hpp"

#include <charconv>

namespace sg::cluster {
namespace {
// Entries one XRANGE reads; a longer log takes several.
constexpr std::size_t replay_page = 4096;
// A stream id Redis does not know is looked up this many more times (10, 20, … 1,280 ms apart:
// 2.5 s in all, past a failed first batch's rewrite) before the answer is "no such stream".
constexpr unsigned missing_meta_retries = 8;
// A Redis call of a first replay that got no answer is made again after 25, 50, … 400 ms.
constexpr int retry_first_ms = 25, retry_max_ms = 400;
// An ended mirror nobody watches is dropped after this (the shared log still has it).
constexpr std::int64_t ended_grace_ms = 1000;

// "sg:{ID}:ev" → ID
std::string stream_of_channel(const std::string& channel) {
  auto open = channel.find('{');
  auto close = channel.rfind('}');
  if (open == std::string::npos || close == std::string::npos || close <= open) return {};
  return channel.substr(open + 1, close - open - 1);
}

std::uint64_t seq_of_entry_id(const std::string& id) {
  auto dash = id.find('-');
  std::uint64_t seq = 0;
  if (dash == std::string::npos) return 0;
  std::from_chars(id.data() + dash + 1, id.data() + id.size(), seq);
  return seq;
}
}  // namespace

mirrors::mirrors(net::any_io_executor ex, std::shared_ptr<redis::client> redis, std::shared_ptr<redis::subscriber> sub,
                 std::size_t log_max_bytes, std::chrono::milliseconds catch_up_wait)
    : ex_(std::move(ex)),
      redis_(std::move(redis)),
      sub_(std::move(sub)),
      log_max_bytes_(log_max_bytes),
      catch_up_wait_(catch_up_wait) {}

void mirrors::find(const std::string& id, std::uint64_t seen, net::any_io_executor at, found_fn found) {
  if (!at) at = ex_;  // the caller does not mind where (a REST answer, sent from any thread)
  net::post(ex_, [this, id, seen, at = std::move(at), found = std::move(found)]() mutable {
    auto until = std::chrono::steady_clock::now() + catch_up_wait_;
    auto it = mirrors_.find(id);
    if (it == mirrors_.end()) {
      auto& m = mirrors_[id];
      count_.store(mirrors_.size(), std::memory_order_relaxed);
      m.serial = ++next_serial_;
      m.give_up = until;
      m.waiting.push_back({seen, std::move(at), std::move(found), until});
      load(id);
      return;
    }
    auto& m = it->second;
    m.waiting.push_back({seen, std::move(at), std::move(found), until});
    if (!m.ready) return;
    release(m);
    if (!m.waiting.empty()) {
      // The caller has read further than this mirror (on the generating node): read the log now,
      // and answer at the deadline whatever happens.
      catch_up(id);
      auto t = std::make_shared<net::steady_timer>(ex_, catch_up_wait_);
      t->async_wait([this, id, t](error_code) {
        if (auto it = mirrors_.find(id); it != mirrors_.end() && it->second.ready) release(it->second);
      });
    }
  });
}

void mirrors::load(const std::string& id) {
  redis_->exec({"HGETALL", keys::meta(id)}, [this, id](error_code ec, redis::reply r) {
    auto it = mirrors_.find(id);
    if (it == mirrors_.end()) return;
    if (ec || r.type != redis::reply::kind::array) return redis_failed(id, ec ? ec.message() : "reply " + r.str, &mirrors::load);
    std::string owner, project, provider;
    std::int64_t created_at = 0;
    bool known = false;
    {
      for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
        auto& k = r.elements[i].str;
        auto& v = r.elements[i + 1].str;
        if (k == "owner") owner = v;
        else if (k == "project") project = v;
        else if (k == "provider") provider = v;
        else if (k == "createdAt") std::from_chars(v.data(), v.data() + v.size(), created_at);
        else if (k == "node") known = true;
      }
    }
    if (!known && it->second.lookups < missing_meta_retries) {
      // A stream started an instant ago on another node may not have its first batch in Redis yet
      // (when that batch failed, its client got the id anyway): look again shortly.
      return again(id, std::chrono::milliseconds(10 << it->second.lookups++), &mirrors::load);
    }
    if (!known) {
      answer(it->second, outcome::missing);
      drop(id);
      return;
    }
    it->second.s = std::make_shared<stream::stream>(id, project, owner, provider, log_max_bytes_, created_at);
    // Subscribe first, read the log second: an event published in between is in the log already
    // (the generating node appends before it publishes) and its message is then skipped as seen.
    auto channel = keys::events(id);
    sub_->subscribe(channel);
    sub_->when_subscribed(channel, [this, id](bool) { catch_up(id); });
  });
}

void mirrors::catch_up(const std::string& id) {
  auto it = mirrors_.find(id);
  if (it == mirrors_.end() || it->second.reading || !it->second.s) return;
  auto& m = it->second;
  if (m.ready && m.s->ended()) return;
  m.reading = true;
  auto from = "(0-" + std::to_string(m.s->next_seq() - 1);
  redis_->exec({"XRANGE", keys::log(id), from, "+", "COUNT", std::to_string(replay_page)},
               [this, id](error_code ec, redis::reply r) {
                 auto it = mirrors_.find(id);
                 if (it == mirrors_.end()) return;
                 auto& m = it->second;
                 m.reading = false;
                 if (ec || r.type != redis::reply::kind::array) {
                   // Redis did not answer: a first replay asks again; a live mirror waits for
                   // catch_up_all() when the Pub/Sub connection is back.
                   if (!m.ready) redis_failed(id, ec ? ec.message() : "reply " + r.str, &mirrors::catch_up);
                   return;
                 }
                 for (auto& entry : r.elements) {
                   if (entry.elements.size() < 2 || entry.elements[1].elements.size() < 2) continue;
                   auto seq = seq_of_entry_id(entry.elements[0].str);
                   if (seq != m.s->next_seq()) continue;
                   if (auto ev = proto::parse_event_frame(entry.elements[1].elements[1].str)) apply(m, std::move(ev));
                 }
                 if (!m.ready) answer(m, outcome::found);
                 else release(m);
                 bool more = r.elements.size() >= replay_page || m.highest_seen >= m.s->next_seq();
                 if (more && !m.s->ended()) catch_up(id);
               });
}

void mirrors::apply(mirror& m, proto::event_ptr ev) {
  if (ev->seq != m.s->next_seq()) return;
  bool terminal = ev->terminal();
  if (ev->type == proto::event_type::stream_chunk) m.s->publish_chunk(std::move(ev));
  else m.s->publish(std::move(ev));
  if (terminal) sub_->unsubscribe(keys::events(m.s->id()));
}

void mirrors::again(const std::string& id, std::chrono::milliseconds wait, void (mirrors::*step)(const std::string&)) {
  auto t = std::make_shared<net::steady_timer>(ex_, wait);
  t->async_wait([this, id, t, step, serial = mirrors_.at(id).serial](error_code) {
    if (auto it = mirrors_.find(id); it != mirrors_.end() && it->second.serial == serial) (this->*step)(id);
  });
}

void mirrors::redis_failed(const std::string& id, const std::string& why, void (mirrors::*step)(const std::string&)) {
  auto& m = mirrors_.at(id);
  if (std::chrono::steady_clock::now() >= m.give_up) {
    core::log_warn("cluster: stream lookup gave up: redis did not answer",
                   {{"streamId", id}, {"error", why}, {"attempts", m.failures + 1}});
    answer(m, outcome::unavailable);
    drop(id);
    return;
  }
  again(id, std::chrono::milliseconds(std::min(retry_max_ms, retry_first_ms << std::min(m.failures++, 4u))), step);
}

void mirrors::answer(mirror& m, outcome o) {
  m.ready = o == outcome::found;
  release(m, o);
}

void mirrors::release(mirror& m, outcome o) {
  auto now = std::chrono::steady_clock::now();
  bool found = o == outcome::found;
  bool all = !found || m.s->ended();
  std::uint64_t have = found ? m.s->next_seq() - 1 : 0;
  stream::lookup value = found ? stream::lookup(m.s) : stream::lookup(nullptr);
  if (o == outcome::unavailable) value = make_error_code(proto::error_code::unavailable);
  std::erase_if(m.waiting, [&](waiter& w) {
    bool behind = !all && w.seen > have;  // the caller read further, on the generating node
    if (behind && now < w.until) return false;
    // Still behind at the deadline: the generating node's writes lag (it is overloaded, or Redis
    // is); the caller may retry rather than be told that it asked for more than exists.
    auto v = behind ? stream::lookup(make_error_code(proto::error_code::unavailable)) : value;
    net::post(w.at, [fn = std::move(w.fn), v] { fn(v); });
    return true;
  });
}

void mirrors::on_event(const std::string& channel, const std::string& frame) {
  auto id = stream_of_channel(channel);
  auto it = mirrors_.find(id);
  if (it == mirrors_.end() || !it->second.s) return;
  auto& m = it->second;
  auto ev = proto::parse_event_frame(frame);
  if (!ev) return;
  m.highest_seen = std::max(m.highest_seen, ev->seq);
  if (!m.ready || m.reading) return;  // the read in flight (or the one after it) covers it
  if (ev->seq == m.s->next_seq()) {
    apply(m, std::move(ev));
    if (!m.waiting.empty()) release(m);
  } else if (ev->seq > m.s->next_seq()) catch_up(id);  // a message was missed: the log has it
}

void mirrors::catch_up_all(bool resubscribe) {
  for (auto& [id, m] : mirrors_)
    if (m.ready && !m.s->ended()) {
      if (resubscribe) sub_->subscribe(keys::events(id));
      catch_up(id);
    }
}

void mirrors::sweep(std::int64_t idle_ms) {
  auto now = core::now_ms();
  std::vector<std::string> gone;
  for (auto& [id, m] : mirrors_) {
    if (!m.ready) continue;
    if (m.s->subscriber_count() > 0) {
      m.unwatched_since_ms = 0;
      continue;
    }
    if (!m.unwatched_since_ms) m.unwatched_since_ms = now;
    auto unwatched = now - m.unwatched_since_ms;
    if (unwatched >= (m.s->ended() ? ended_grace_ms : idle_ms)) gone.push_back(id);
  }
  for (auto& id : gone) drop(id);
}

void mirrors::drop(const std::string& id) {
  auto it = mirrors_.find(id);
  if (it == mirrors_.end()) return;
  if (it->second.s && !it->second.s->ended()) sub_->unsubscribe(keys::events(id));
  mirrors_.erase(it);
  count_.store(mirrors_.size(), std::memory_order_relaxed);
}

}  // namespace sg::cluster
