// The stream manager on one node: admission, the tables of running and finished streams, cancels,
// interrupts, retention and its sweeper. A stream's pipeline is its runner (stream/runner.hpp).
#include "stream/runner.hpp"

namespace sg::stream {

stream_manager::stream_manager(net::io_context& ioc, const core::config& cfg, store::store& store,
                               std::map<std::string, std::shared_ptr<provider::provider>> providers)
    : ioc_(ioc),
      cfg_(cfg),
      store_(store),
      providers_(std::move(providers)),
      sweeper_(ioc),
      checkpoint_timer_(ioc),
      record_timer_(ioc),
      end_timer_(ioc),
      start_rate_(cfg.rate_streams_per_minute / 60.0, std::max(1.0, cfg.rate_streams_per_minute)),
      token_rate_(cfg.rate_tokens_per_minute / 60.0, cfg.rate_tokens_per_minute),
      per_user_(cfg.max_streams_per_user) {
  if (auto* gen = store_.project_generation())
    projects_ = std::make_unique<store::project_cache>(*gen, project_cache_max_bytes);
}

stream_manager::~stream_manager() = default;

std::vector<std::string> stream_manager::provider_names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : providers_) out.push_back(k);
  return out;
}

stream_manager::start_result stream_manager::start(proto::stream_request req, std::string owner,
                                                   std::string limit_key, net::any_io_executor ex) {
  start_result out;
  if (!accepting_) {
    out.error = proto::error_info{proto::error_code::interrupted, "the server is shutting down", true, {}, {}};
    return out;
  }
  std::string pname = req.provider.empty() ? cfg_.provider : req.provider;
  auto it = providers_.find(pname);
  if (it == providers_.end()) {
    out.error = proto::error_info{proto::error_code::bad_request, "unknown provider '" + pname + "'", false, {},
                                  "provider"};
    return out;
  }
  // A client that lost its connection before stream_start re-sends the same request: give it the
  // stream it already started instead of a second answer.
  // Keyed by owner, never by address: two clients behind one address (or one proxy) may well pick
  // the same requestId, and neither may receive the other's stream.
  std::string request_key;
  if (!req.request_id.empty()) {
    request_key = owner + '\n' + req.request_id;
    std::lock_guard lock(mu_);
    if (auto it = by_request_.find(request_key); it != by_request_.end()) {
      if (auto sit = streams_.find(it->second); sit != streams_.end() && sit->second.s->owner() == owner) {
        out.s = sit->second.s;
        out.reused = true;
        return out;
      }
    }
  }
  auto limited = [&](std::string message, std::int64_t retry_ms) {
    out.error = proto::error_info{proto::error_code::rate_limited, std::move(message), true, std::max<std::int64_t>(retry_ms, 1), {}};
    return out;
  };
  if (auto wait = token_rate_.wait_ms(limit_key)) {
    counters_.rate_limited_tokens.fetch_add(1, std::memory_order_relaxed);
    return limited("token quota used up for this minute", wait);
  }
  if (!per_user_.try_acquire(limit_key)) {
    counters_.rate_limited_concurrency.fetch_add(1, std::memory_order_relaxed);
    return limited("too many concurrent streams for this user (limit " + std::to_string(cfg_.max_streams_per_user) + ")",
                   1000);
  }
  if (auto wait = start_rate_.take(limit_key)) {
    per_user_.release(limit_key);
    counters_.rate_limited_starts.fetch_add(1, std::memory_order_relaxed);
    return limited("too many streams started this minute", wait);
  }
  return create(core::random_id("st_"), std::move(req), std::move(owner), std::move(limit_key), std::move(ex),
                std::move(request_key), false);
}

// The stream, once admitted: its runner, its place in the tables, its pipeline started.
stream_manager::start_result stream_manager::create(std::string id, proto::stream_request req, std::string owner,
                                                    std::string limit_key, net::any_io_executor ex,
                                                    std::string request_key, bool shared_limits,
                                                    std::function<void()> stored) {
  start_result out;
  std::string pname = req.provider.empty() ? cfg_.provider : req.provider;
  auto it = providers_.find(pname);
  auto s = std::make_shared<stream>(std::move(id), req.project_id, std::move(owner), pname, cfg_.stream_log_max_bytes);
  s->set_resumable(req.resumable);
  // A second reader can come only to a stream that can be resumed or that a retry of its request
  // can find (it carries a requestId). Any other (a completion of the OpenAI surface without one)
  // holds only what its reader has yet to be given, and in cluster mode is not written to the
  // shared log, which is what lets another node resume a stream or attach a retry to it.
  const bool joinable = req.resumable || !request_key.empty();
  s->set_joinable(joinable);
  const bool shared_log = remote_ && joinable;
  auto r = std::make_shared<runner>(*this, s, std::move(req), it->second, pname, std::move(limit_key), std::move(ex));
  if (shared_limits) r->use_shared_limits();
  r->publish_start();
  {
    std::lock_guard lock(mu_);
    auto [e, _] = streams_.emplace(std::string_view(s->id()), entry{s, r, nullptr});
    if (r->recorded()) recording_.emplace(std::string_view(s->id()), s);
    if (!request_key.empty()) {
      auto [k, inserted] = by_request_.try_emplace(std::move(request_key), s->id());
      if (!inserted) {
        // Two starts with one requestId crossed: the newer stream takes the key from the older one.
        if (auto prev = streams_.find(k->second); prev != streams_.end()) prev->second.request_key = nullptr;
        k->second = s->id();
      }
      e->second.request_key = &k->first;
    }
  }
  running_.fetch_add(1);
  counters_.started.fetch_add(1, std::memory_order_relaxed);
  if (shared_log) remote_->generating(s, std::move(stored));
  else if (stored) stored();  // nothing to wait for before the client is answered
  r->begin();
  out.s = std::move(s);
  return out;
}

std::shared_ptr<stream> stream_manager::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.s;
}

bool stream_manager::cancel(const std::string& id) {
  std::shared_ptr<runner> r;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end()) {
      if (!remote_) return false;
      remote_->cancel(id);
      return true;
    }
    r = it->second.r;
  }
  if (r) r->cancel();
  return true;
}

std::size_t stream_manager::running() const { return running_.load(); }

void stream_manager::when_idle(std::function<void()> fn) {
  {
    std::lock_guard lock(idle_mu_);
    on_idle_ = std::move(fn);
  }
  notify_if_idle();
}

void stream_manager::notify_if_idle() {
  std::function<void()> fn;
  {
    std::lock_guard lock(idle_mu_);
    if (running_.load() != 0 || !on_idle_) return;
    fn = std::exchange(on_idle_, nullptr);
  }
  fn();
}

std::size_t stream_manager::retained() const {
  std::lock_guard lock(mu_);
  return streams_.size();
}

std::size_t stream_manager::retained_bytes() const {
  std::lock_guard lock(mu_);
  return finished_bytes_;
}

// The pipeline is done: only the (now compact) log stays, counted against the retention budget, and
// the oldest finished streams go first when the budget is spent. A stream that is not resumable goes
// at once (its subscribers hold it until they have written its end).
void stream_manager::on_finished(const std::string& id) {
  std::vector<entry> dropped;  // destroyed outside the lock
  {
    std::lock_guard lock(mu_);
    if (auto it = streams_.find(id); it != streams_.end()) {
      recording_.erase(std::string_view(id));
      if (!it->second.s->resumable()) {
        forget(it, dropped);
      } else {
        dropped.push_back(entry{nullptr, std::move(it->second.r), nullptr});
        auto bytes = it->second.s->retained_bytes();
        finished_.emplace_back(it->second.s, bytes);
        finished_bytes_ += bytes;
      }
    }
    while (cfg_.retained_max_bytes && finished_bytes_ > cfg_.retained_max_bytes && !finished_.empty()) {
      auto [old, bytes] = std::move(finished_.front());
      finished_.pop_front();
      finished_bytes_ -= bytes;
      if (auto it = streams_.find(old->id()); it != streams_.end()) {
        forget(it, dropped);
        evicted_.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  if (running_.fetch_sub(1) == 1) notify_if_idle();
}

void stream_manager::interrupt_all() {
  std::vector<std::shared_ptr<runner>> rs;
  {
    std::lock_guard lock(mu_);
    for (auto& [id, e] : streams_)
      if (e.r && !e.s->ended()) rs.push_back(e.r);
  }
  for (auto& r : rs) r->interrupt();
}

bool stream_manager::interrupt(const std::string& id, std::string message) {
  std::shared_ptr<runner> r;
  {
    std::lock_guard lock(mu_);
    auto it = streams_.find(id);
    if (it == streams_.end() || !it->second.r || it->second.s->ended()) return false;
    r = it->second.r;
  }
  r->interrupt(std::move(message));
  return true;
}

void stream_manager::start_sweeper() {
  auto period = std::chrono::milliseconds(std::clamp<std::int64_t>(cfg_.stream_retention_ms / 4, 10, 5000));
  sweeper_.expires_after(period);
  sweeper_.async_wait([this](error_code ec) {
    if (ec || stopped_) return;
    sweep();
    start_sweeper();
  });
}

void stream_manager::sweep() {
  auto now = core::now_ms();
  std::vector<entry> dropped;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  // finished_ is in end order: the expired ones are at its front.
  while (!finished_.empty()) {
    auto& [s, bytes] = finished_.front();
    if (now - s->ended_at_ms() < cfg_.stream_retention_ms) break;
    if (auto it = streams_.find(s->id()); it != streams_.end()) forget(it, dropped);
    finished_bytes_ -= bytes;
    finished_.pop_front();
  }
}

// Removes a stream from the tables; the entry (and with it the stream, unless someone still holds it)
// is destroyed by the caller, outside the lock. Lock held.
void stream_manager::forget(std::unordered_map<std::string_view, entry>::iterator it, std::vector<entry>& dropped) {
  if (it->second.request_key) by_request_.erase(by_request_.find(*it->second.request_key));
  dropped.push_back(std::move(it->second));
  streams_.erase(it);
}

void stream_manager::stop() {
  stopped_ = true;
  net::post(sweeper_.get_executor(), [this] {
    sweeper_.cancel();
    checkpoint_timer_.cancel();
  });
  {
    // A question still waiting is taken back by its stream's end, which writes it with the answer.
    std::lock_guard lock(records_mu_);
    record_timer_.cancel();
  }
  {
    std::lock_guard lock(ends_mu_);
    end_timer_.cancel();
  }
  // Ends still gathering are saved now; those that come later, at once (defer_end).
  write_ends();
}

}  // namespace sg::stream
