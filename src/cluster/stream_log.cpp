#include "cluster/stream_log.hpp"

#include "cluster/keys.hpp"
#include "core/log.hpp"
#include "redis/client.hpp"

namespace sg::cluster {
namespace {
// Keys of a running stream expire after this even if every node died without ending it.
constexpr std::int64_t running_key_ttl_ms = 24 * 60 * 60 * 1000;
// One round trip carries at most about this many commands; the rest goes in the next.
constexpr std::size_t max_batch_commands = 8192;
}  // namespace

// Receives the stream's events under its lock: only notes that there is something to write.
struct stream_log::tap : stream::subscriber {
  tap(stream_log& l, std::string i) : log(l), id(std::move(i)) {}
  void deliver(proto::event_ptr) override { log.mark(id); }
  stream_log& log;
  std::string id;
};

stream_log::stream_log(net::any_io_executor ex, std::shared_ptr<redis::client> redis, std::string node_id,
                       std::int64_t retention_ms)
    : ex_(std::move(ex)), redis_(std::move(redis)), node_id_(std::move(node_id)), retention_ms_(retention_ms) {}

stream_log::~stream_log() {
  std::lock_guard lock(mu_);
  for (auto& [id, t] : streams_) t.s->unsubscribe(t.t.get());
}

void stream_log::track(const std::shared_ptr<stream::stream>& s, std::string request_key,
                       std::function<void()> stored) {
  auto t = std::make_shared<tap>(*this, s->id());
  {
    std::lock_guard lock(mu_);
    auto& entry = streams_[s->id()];
    entry.s = s;
    entry.t = t;
    entry.request_key = std::move(request_key);
    entry.stored = std::move(stored);
  }
  // Delivers stream_start (already logged) at once, which marks the stream for the next batch.
  s->subscribe(t, 0);
}

void stream_log::mark(const std::string& id) {
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  if (it == streams_.end() || it->second.dirty) return;
  it->second.dirty = true;
  dirty_.push_back(id);
  if (!flush_posted_) {
    flush_posted_ = true;
    net::post(ex_, [this] { flush(); });
  }
}

void stream_log::resend_all(bool from_start) {
  std::lock_guard lock(mu_);
  for (auto& [id, t] : streams_) {
    if (from_start) {
      t.acked = 0;
      t.meta_written = false;
    }
    if (t.dirty) continue;
    t.dirty = true;
    dirty_.push_back(id);
  }
  if (!flush_posted_ && !dirty_.empty()) {
    flush_posted_ = true;
    net::post(ex_, [this] { flush(); });
  }
}

bool stream_log::abandon(const std::string& id) {
  std::lock_guard lock(mu_);
  return streams_.erase(id) > 0;
}

std::size_t stream_log::tracked() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

void stream_log::flush() {
  struct part {
    std::string id;
    std::uint64_t upto = 0;
    bool terminal = false;
  };
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mu_);
    flush_posted_ = false;
    // A batch in flight: its reply flushes again. Redis down: resend_all() when it is back.
    if (in_flight_ || !redis_->connected()) return;
    ids.swap(dirty_);
  }
  std::vector<redis::command> cmds;
  std::vector<part> parts;
  std::size_t events = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    auto& id = ids[i];
    std::shared_ptr<stream::stream> s;
    std::uint64_t acked = 0;
    bool meta_written = false;
    std::string request_key;
    {
      std::lock_guard lock(mu_);
      auto it = streams_.find(id);
      if (it == streams_.end()) continue;
      if (cmds.size() >= max_batch_commands) {  // the next batch takes the rest
        dirty_.push_back(id);
        continue;
      }
      it->second.dirty = false;
      s = it->second.s;
      acked = it->second.acked;
      meta_written = it->second.meta_written;
      request_key = it->second.request_key;
    }
    auto last = s->last_event();
    if (!last || last->seq <= acked) continue;
    auto evs = s->events_between(acked, last->seq);
    if (!evs) {
      // The bounded in-memory log dropped events Redis never got (it was down that long): the
      // shared log has a gap, and a node replaying it stops there.
      core::log_warn("stream events lost from the shared log", {{"streamId", id}, {"afterSeq", acked}});
      evs = s->events_between(last->seq - 1, last->seq);
      if (!evs) continue;
    }
    auto log_key = keys::log(id);
    auto meta_key = keys::meta(id);
    if (!meta_written) {
      auto info = s->info();
      cmds.push_back({"HSET", meta_key, "node", node_id_, "owner", s->owner(), "project", s->project_id(), "provider",
                      info.provider, "state", "running", "createdAt", std::to_string(s->created_at_ms())});
      cmds.push_back({"PEXPIRE", meta_key, std::to_string(running_key_ttl_ms)});
      cmds.push_back({"SADD", keys::node_streams(node_id_), id});
      if (!request_key.empty())
        cmds.push_back({"SET", request_key, id, "PX", std::to_string(running_key_ttl_ms)});
    }
    auto events_key = keys::events(id);
    for (auto& ev : *evs) {
      cmds.push_back({"XADD", log_key, "0-" + std::to_string(ev->seq), "e", ev->json()});
      cmds.push_back({"PUBLISH", events_key, ev->json()});
    }
    events += evs->size();
    if (!meta_written) cmds.push_back({"PEXPIRE", log_key, std::to_string(running_key_ttl_ms)});
    bool terminal = last->terminal();
    if (terminal) {
      auto keep = std::to_string(retention_ms_);
      cmds.push_back({"HSET", meta_key, "state", "ended", "lastSeq", std::to_string(last->seq), "endedAt",
                      std::to_string(s->ended_at_ms())});
      cmds.push_back({"PEXPIRE", meta_key, keep});
      cmds.push_back({"PEXPIRE", log_key, keep});
      cmds.push_back({"SREM", keys::node_streams(node_id_), id});
      if (!request_key.empty()) cmds.push_back({"PEXPIRE", request_key, keep});
    }
    parts.push_back({id, last->seq, terminal});
  }
  if (cmds.empty()) return;
  in_flight_ = true;
  counters_.batches.fetch_add(1, std::memory_order_relaxed);
  redis_->exec(std::move(cmds), [this, parts = std::move(parts), events](error_code ec, std::vector<redis::reply>) {
    in_flight_ = false;
    std::vector<std::function<void()>> stored;  // called outside the lock
    std::unique_lock lock(mu_);
    if (ec) counters_.failures.fetch_add(1, std::memory_order_relaxed);
    else counters_.events.fetch_add(events, std::memory_order_relaxed);
    for (auto& p : parts) {
      auto it = streams_.find(p.id);
      if (it == streams_.end()) continue;
      auto& t = it->second;
      // Written or not, the client that waits for it goes on: a failed write is retried later.
      if (t.stored) stored.push_back(std::move(t.stored));
      t.stored = nullptr;
      if (ec) {
        // Not stored: written again when Redis is back (resend_all), from what is acknowledged.
        if (!t.dirty) {
          t.dirty = true;
          dirty_.push_back(p.id);
        }
        continue;
      }
      t.acked = std::max(t.acked, p.upto);
      t.meta_written = true;
      if (p.terminal) streams_.erase(it);  // the stream dropped its subscribers (the tap) at its end
    }
    if (!ec && !dirty_.empty() && !flush_posted_) {
      flush_posted_ = true;
      net::post(ex_, [this] { flush(); });
    }
    lock.unlock();
    for (auto& fn : stored) fn();
  });
}

}  // namespace sg::cluster
