// The stream pipeline: initializing → analyzing (prompt cards from the store) → generating → finalizing.
#include "stream/stream_manager.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "store/store.hpp"

#include <algorithm>
#include <chrono>

namespace sg::stream {

namespace {
// The progress events every stream sends, in order (a provider may send its own between them).
struct stage {
  std::string_view name;
  std::string_view step;  // the text a client shows
  int percent;
};
constexpr stage stage_initializing{"initializing", "Initializing stream...", 5};
constexpr stage stage_analyzing{"analyzing", "Analyzing prompt cards...", 20};
constexpr stage stage_generating{"generating", "Generating with the provider...", 40};  // names the provider
constexpr stage stage_finalizing{"finalizing", "Saving the answer...", 90};
}  // namespace

// Drives one stream: the provider's sink, running on the stream's own strand.
class runner : public provider::sink, public std::enable_shared_from_this<runner> {
 public:
  runner(stream_manager& m, std::shared_ptr<stream> s, proto::stream_request req,
         std::shared_ptr<provider::provider> p, std::string provider_name, std::string limit_key,
         net::any_io_executor ex)
      : limit_key_(std::move(limit_key)),
        m_(m),
        s_(std::move(s)),
        req_(std::move(req)),
        provider_(std::move(p)),
        provider_name_(std::move(provider_name)),
        ex_(ex ? std::move(ex) : net::any_io_executor(net::make_strand(m.ioc_))),
        cancel_(std::make_shared<provider::cancellation>()),
        t0_(std::chrono::steady_clock::now()),
        chunk_maker_(s_->id(), req_.project_id) {}

  void use_shared_limits() { shared_limits_ = true; }
  /// Its answer is a history row to checkpoint while it runs.
  bool recorded() const { return req_.record; }

  // Called before the stream is visible to anyone: stream_start is seq 1 in the log.
  void publish_start() { s_->publish(proto::make_stream_start(s_->id(), req_.project_id, req_.request_id)); }

  // Inline when the caller already runs on the stream's executor (a session starting it), so the
  // upstream request leaves before the session writes its answer's head to the client.
  void begin() {
    net::dispatch(ex_, [self = shared_from_this()] { self->initialize(); });
  }

  void cancel() {
    net::post(ex_, [self = shared_from_this()] {
      if (self->finishing_) return;
      self->finishing_ = true;
      self->cancel_->cancel();  // aborts the upstream request at once
      self->finish("cancelled", [self] { return proto::make_cancelled(self->s_->id(), self->s_->next_seq()); });
    });
  }

  void interrupt(std::string message = "the server is shutting down") {
    net::post(ex_, [self = shared_from_this(), message = std::move(message)] {
      if (self->finishing_) return;
      self->finishing_ = true;
      self->cancel_->cancel();
      proto::error_info e{proto::error_code::interrupted, message, true, {}, {}};
      self->finish("failed", [self, e] { return proto::make_error(e, self->s_->id(), self->s_->next_seq()); });
    });
  }

  // provider::sink
  void on_request_sent() override {
    if (finishing_) return;
    m_.upstream_.request(provider_name_);
    core::log_info("upstream request", {{"streamId", s_->id()},
                                        {"requestId", req_.request_id},
                                        {"provider", provider_name_},
                                        {"model", req_.model}});
    progress(stage_generating.name, "Generating with " + provider_name_ + "...", stage_generating.percent);
  }

  void on_progress(std::string_view stage, std::string_view step, int percent) override {
    progress(stage, step, percent);
  }

  void on_delta(std::string text, std::int64_t due_us) override {
    if (finishing_ || text.empty()) return;
    auto now = std::chrono::steady_clock::now();
    if (chunks_ == 0) {
      first_chunk_ms_ = elapsed_ms();
      m_.counters_.ttft.observe_ms(std::chrono::duration<double, std::milli>(now - t0_).count());
    } else {
      m_.counters_.inter_chunk.observe_ms(std::chrono::duration<double, std::milli>(now - last_delta_).count());
    }
    last_delta_ = now;
    ++chunks_;
    m_.counters_.chunks.fetch_add(1, std::memory_order_relaxed);
    s_->publish_chunk(chunk_maker_.make(s_->next_seq(), std::move(text), due_us));
  }

  void on_done(proto::usage u) override {
    if (finishing_) return;
    finishing_ = true;
    tokens_used_ = static_cast<double>(u.input_tokens + u.output_tokens);
    if (!shared_limits_) m_.token_rate_.charge(limit_key_, tokens_used_);
    progress_unchecked(stage_finalizing.name, stage_finalizing.step, stage_finalizing.percent);
    auto self = shared_from_this();
    finish("complete", [self, u] {
      proto::stream_metrics m{self->first_chunk_ms_, self->chunks_, self->elapsed_ms()};
      self->usage_ = u;
      self->metrics_ = m;
      return proto::make_complete(self->s_->id(), self->s_->next_seq(), self->s_->text(), u, m);
    });
  }

  void on_error(proto::error_info e) override {
    if (finishing_) return;
    finishing_ = true;
    if (persist_) m_.upstream_.error(provider_name_, proto::to_string(e.code));
    auto self = shared_from_this();
    finish("failed", [self, e] { return proto::make_error(e, self->s_->id(), self->s_->next_seq()); });
  }

 private:
  std::int64_t elapsed_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0_).count();
  }

  void progress(std::string_view stage, std::string_view step, int pct) {
    if (finishing_) return;
    progress_unchecked(stage, step, pct);
  }
  void progress_unchecked(std::string_view stage, std::string_view step, int pct) {
    s_->publish_progress(stage, step, pct);
  }

  void initialize() {
    progress(stage_initializing.name, stage_initializing.step, stage_initializing.percent);
    progress(stage_analyzing.name, stage_analyzing.step, stage_analyzing.percent);
    // Nothing to read or record: the first token waits for no store round trip.
    if (!req_.record && !req_.read_cards) {
      generate({});
      return;
    }
    // The analyzing stage really reads the project's cards and records the question. The answer
    // starts on the cards, read right here where SQLite allows it (store::read). The question's
    // rows are written with the questions of the streams that start within record_gather of it, in
    // one store transaction, so the upstream request waits for no commit. The stream's end waits
    // for that write (its row is then there to update) or, when it comes first, writes the question
    // with the answer; a failed write ends the stream: nothing is answered off the record.
    recording_question_ = req_.record;
    auto* cache = m_.project_cache();
    if (cache) {
      if (auto kept = cache->find(req_.project_id)) {
        // Unchanged since it was read: the upstream request goes out with no read at all.
        answer_with(true, kept->owner && *kept->owner != s_->owner() ? nullptr : &kept->cards);
        return;
      }
    }
    auto self = shared_from_this();
    using cards_or_missing = std::optional<std::vector<store::card_row>>;
    m_.store_.read(
        [self, cache, read_at = cache ? cache->generation() : 0](store::database& db) -> cards_or_missing {
          auto p = db.get_project(self->req_.project_id);
          if (cache) {
            // Another user's cards are read too: the entry serves every caller of this project.
            auto kept = std::make_shared<store::project_cards>();
            if (p) kept->owner = p->owner;
            kept->cards = db.list_cards(self->req_.project_id);
            cache->keep(read_at, self->req_.project_id, kept);
            if (p && p->owner != self->s_->owner()) return std::nullopt;
            return kept->cards;
          }
          if (p && p->owner != self->s_->owner()) return std::nullopt;
          return db.list_cards(self->req_.project_id);
        },
        // Read right here: the upstream request goes out before the client's answer headers and
        // first events are written. Read on the store thread: back to this stream's thread.
        [self](store::result<cards_or_missing> r) {
          net::dispatch(self->ex_, [self, r = std::move(r)]() mutable {
            self->answer_with(r.has_value(), r && *r ? &**r : nullptr);
          });
        });
  }

  // What the read found: the project's cards (null: the project is another user's), unless the
  // store failed. Then the question's rows are written.
  void answer_with(bool store_ok, const std::vector<store::card_row>* cards) {
    // Queued for its batch first: an end that comes from here on (an error below, a cancel) takes
    // it back and writes it with the answer, or, once its batch has it, waits for that write. An
    // end that came during the read does that now.
    if (recording_question_) {
      record_question();
      if (auto end = std::exchange(finish_after_record_, nullptr)) return end();
    }
    if (!store_ok) {
      persist_ = false;
      on_error({proto::error_code::internal, "the store is unavailable; try again later", true, {}, {}});
    } else if (!cards) {
      persist_ = false;
      on_error({proto::error_code::not_found, "project " + req_.project_id + " not found", false, {}, {}});
    } else {
      generate(*cards);
    }
  }

  // Another user's project is invisible: the same answer as a stream that does not exist.
  bool project_visible(store::database& db) const {
    auto p = db.get_project(req_.project_id);
    return !p || p->owner == s_->owner();
  }

  // The question's rows are written with the other questions of the same moment, in one store
  // transaction (stream_manager::write_records); recording_question_ is already set, and is cleared
  // when they are.
  void record_question() { m_.defer_record(shared_from_this()); }

 public:
  // On a store thread, inside a transaction (or a savepoint of one): the question's two rows.
  // `answer` and `status` are the answer's row as it stands: empty and `streaming` while it runs.
  void write_question(store::database& db, const std::string& answer = {}, const std::string& status = "streaming") {
    if (!project_visible(db)) return;  // the read at the start ends this stream as not_found
    store::message_row msg;
    msg.owner = s_->owner();
    msg.project_id = req_.project_id;
    msg.role = "user";
    msg.content = req_.user_input;
    msg.status = "complete";
    msg.stream_id = s_->id();
    msg.created_at = core::now_ms();
    db.add_message(msg);
    // The answer is in the history from now on, `streaming` with this node's name: its text
    // is checkpointed every second, and a crash leaves it `interrupted` with that text.
    msg.role = "assistant";
    msg.content = answer;
    msg.status = status;
    msg.node = m_.cfg_.node_id;
    db.add_message(msg);
  }

  // The question's rows were written (or could not be): back on this stream's executor.
  void question_written(bool ok) {
    auto self = shared_from_this();
    net::post(ex_, [self, ok] {
      self->recording_question_ = false;
      if (!ok) {
        // The question could not be recorded: end the stream rather than answer off the record.
        self->persist_ = false;
        self->cancel_->cancel();
        self->on_error({proto::error_code::internal, "the store is unavailable; try again later", true, {}, {}});
      }
      if (auto end = std::exchange(self->finish_after_record_, nullptr)) end();
    });
  }

 private:
  void generate(const std::vector<store::card_row>& cards) {
    if (finishing_) return;
    auto preq = std::make_shared<provider::request>();
    preq->stream_id = s_->id();
    preq->request_id = req_.request_id;
    preq->project_id = req_.project_id;
    preq->model = req_.model;
    preq->user_input = req_.user_input;
    preq->history = req_.history;
    preq->sub = s_->owner();
    preq->connection_id = req_.connection_id;
    preq->context_json = req_.context_json;
    std::string system = "You suggest titles. Follow the project's prompt cards.";
    std::size_t budget = m_.cfg_.max_prompt_bytes;
    for (auto& c : cards) {
      // Cards written before the limit was lowered are cut here, so the upstream request stays bounded.
      if (budget && c.content.size() > budget) break;
      if (budget) budget -= c.content.size();
      preq->cards.push_back({c.kind, c.content});
      system += "\n[" + c.kind + "] " + c.content;
    }
    preq->system_prompt = std::move(system);
    provider_->start(std::move(preq), shared_from_this(), ex_, cancel_);
  }

  // Saves the assistant message, then publishes the terminal event, so a client that sees the end
  // also finds the answer in the history.
  template <class MakeEvent>
  void finish(std::string status, MakeEvent make_event) {
    auto self = shared_from_this();
    if (recording_question_) {
      if (m_.take_record(this)) {
        // Its question was still waiting for its batch: both rows are written now, with the answer.
        recording_question_ = false;
        if (persist_) {
          auto text = s_->text();
          m_.store_.exec(
              [self, status, text](store::database& db) {
                bool own = !db.in_transaction();
                if (own) db.begin_write();
                try {
                  self->write_question(db, text, status);
                  if (own) db.commit();
                } catch (...) {
                  if (own && db.in_transaction()) db.rollback();
                  throw;
                }
              },
              [self, status, make_event](store::result<void> saved) {
                net::post(self->ex_, [self, status, make_event, saved_ok = saved.has_value()] {
                  self->end(status, make_event, saved_ok);
                });
              });
          return;
        }
      } else {
        // Its question's rows are being written: the end follows them, so it updates the answer's.
        finish_after_record_ = [self, status = std::move(status), make_event] { self->finish(status, make_event); };
        return;
      }
    }
    if (!persist_ || !req_.record) {
      // Nothing to save: the end does not go through a store thread and back (a wake-up of each,
      // and the response's last bytes held back meanwhile).
      net::post(ex_, [self, status = std::move(status), make_event] { self->end(status, make_event, true); });
      return;
    }
    auto text = s_->text();
    m_.store_.exec(
        [self, status, text](store::database& db) {
          if (!self->persist_ || !self->req_.record) return;
          if (db.set_answer(self->s_->id(), text, status, false)) return;
          store::message_row msg;  // recorded before answers were rows from their start
          msg.owner = self->s_->owner();
          msg.project_id = self->req_.project_id;
          msg.role = "assistant";
          msg.content = text;
          msg.status = status;
          msg.stream_id = self->s_->id();
          msg.created_at = core::now_ms();
          db.add_message(msg);
        },
        // Runs whether or not the answer was saved: the client has it either way, and the stream
        // must end so its slot, its subscribers and a drain waiting on it are released.
        [self, status, make_event](store::result<void> saved) {
          net::post(self->ex_, [self, status, make_event, saved_ok = saved.has_value()] {
            self->end(status, make_event, saved_ok);
          });
        });
  }

  // On the stream's executor, once the answer is saved (or there was nothing to save).
  template <class MakeEvent>
  void end(const std::string& status, const MakeEvent& make_event, bool saved_ok) {
    // Quotas and counters are settled before the client can see the end and start again.
    if (shared_limits_) m_.remote_->finished(limit_key_, s_->id(), tokens_used_);
    else m_.per_user_.release(limit_key_);
    auto& c = m_.counters_;
    (status == "complete" ? c.completed : status == "cancelled" ? c.cancelled : c.failed)
        .fetch_add(1, std::memory_order_relaxed);
    auto ev = make_event();
    if (ev->type == proto::event_type::stream_complete) s_->publish_complete(ev, usage_, metrics_);
    else s_->publish(ev);
    auto outcome = status == "complete" ? "completed" : status;
    core::log_info("stream end", {{"streamId", s_->id()},
                                  {"owner", s_->owner()},
                                  {"requestId", req_.request_id},
                                  {"provider", provider_name_},
                                  {"outcome", outcome},
                                  {"historySaved", saved_ok},
                                  {"ttftMs", first_chunk_ms_},
                                  {"chunks", chunks_},
                                  {"durationMs", elapsed_ms()}});
    // After the terminal event is queued: a drain that sees no running stream closes sockets.
    m_.on_finished(s_->id());
  }

  std::string limit_key_;
  bool shared_limits_ = false;  // admitted by the cluster's limits, which are told of its end
  double tokens_used_ = 0;
  stream_manager& m_;
  std::shared_ptr<stream> s_;
  proto::stream_request req_;
  std::shared_ptr<provider::provider> provider_;
  std::string provider_name_;
  net::any_io_executor ex_;  // runs one handler at a time (a shard's thread, or a strand)
  std::shared_ptr<provider::cancellation> cancel_;
  std::chrono::steady_clock::time_point t0_;
  std::chrono::steady_clock::time_point last_delta_;
  bool finishing_ = false;
  bool persist_ = true;  // false when the stream never belonged in the history
  bool recording_question_ = false;           // the question's rows are to be written, or being written
  std::function<void()> finish_after_record_;  // an end that waits for that write
  std::int64_t first_chunk_ms_ = -1;
  std::uint64_t chunks_ = 0;
  proto::usage usage_;
  proto::stream_metrics metrics_;  // the stream_complete's, once made
  proto::chunk_maker chunk_maker_;
};

stream_manager::stream_manager(net::io_context& ioc, const core::config& cfg, store::store& store,
                               std::map<std::string, std::shared_ptr<provider::provider>> providers)
    : ioc_(ioc),
      cfg_(cfg),
      store_(store),
      providers_(std::move(providers)),
      sweeper_(ioc),
      checkpoint_timer_(ioc),
      record_timer_(ioc),
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
  auto r = std::make_shared<runner>(*this, s, std::move(req), it->second, pname, std::move(limit_key), std::move(ex));
  if (shared_limits) r->use_shared_limits();
  r->publish_start();
  {
    std::lock_guard lock(mu_);
    auto [e, _] = streams_.emplace(std::string_view(s->id()), entry{s, r, nullptr});
    if (r->recorded()) recording_.emplace(std::string_view(s->id()), std::pair{s, std::size_t{0}});
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
  if (remote_) remote_->generating(s, std::move(stored));
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
// the oldest finished streams go first when the budget is spent.
void stream_manager::on_finished(const std::string& id) {
  std::vector<entry> dropped;  // destroyed outside the lock
  {
    std::lock_guard lock(mu_);
    if (auto it = streams_.find(id); it != streams_.end()) {
      dropped.push_back(entry{nullptr, std::move(it->second.r), nullptr});
      recording_.erase(std::string_view(id));
      auto bytes = it->second.s->retained_bytes();
      finished_.emplace_back(it->second.s, bytes);
      finished_bytes_ += bytes;
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
  // A question still waiting is taken back by its stream's end, which writes it with the answer.
  std::lock_guard lock(records_mu_);
  record_timer_.cancel();
}

void stream_manager::defer_record(std::shared_ptr<runner> r) {
  std::lock_guard lock(records_mu_);
  records_.push_back(std::move(r));
  if (records_.size() > 1) return;
  record_timer_.expires_after(record_gather);
  record_timer_.async_wait([this](error_code ec) {
    if (!ec) write_records();
  });
}

bool stream_manager::take_record(const runner* r) {
  std::lock_guard lock(records_mu_);
  auto it = std::find_if(records_.begin(), records_.end(), [r](auto& x) { return x.get() == r; });
  if (it == records_.end()) return false;
  records_.erase(it);
  if (records_.empty()) record_timer_.cancel();
  return true;
}

// One transaction for every question that came within record_gather; each in a savepoint of its own,
// so one that fails (its project's owner changed, the store is full) leaves the others written.
void stream_manager::write_records() {
  auto batch = std::make_shared<std::vector<std::shared_ptr<runner>>>();
  {
    std::lock_guard lock(records_mu_);
    batch->swap(records_);
  }
  if (batch->empty()) return;
  question_batches_.fetch_add(1, std::memory_order_relaxed);
  auto written = std::make_shared<std::vector<char>>(batch->size(), 0);
  store_.exec(
      [this, batch, written](store::database& db) {
        bool own = !db.in_transaction();
        if (own) db.begin_write();
        for (std::size_t i = 0; i < batch->size(); ++i) {
          try {
            db.exec("SAVEPOINT question");
            (*batch)[i]->write_question(db);
            db.exec("RELEASE SAVEPOINT question");
            (*written)[i] = 1;
          } catch (const std::exception& e) {
            store_.failed_item(e);
            if (db.in_transaction()) {
              try {
                db.exec("ROLLBACK TO SAVEPOINT question");
                db.exec("RELEASE SAVEPOINT question");
              } catch (const std::exception&) {
              }
            } else {
              // SQLite rolled the whole transaction back (a full disk, say): the questions before
              // this one went with it. The rest start a transaction of their own.
              std::fill(written->begin(), written->begin() + static_cast<std::ptrdiff_t>(i), 0);
              if (!own) throw;
              db.begin_write();
            }
          }
        }
        if (own) db.commit();
        questions_written_.fetch_add(static_cast<std::uint64_t>(std::count(written->begin(), written->end(), 1)),
                                     std::memory_order_relaxed);
      },
      [batch, written](store::result<void> r) {
        for (std::size_t i = 0; i < batch->size(); ++i) (*batch)[i]->question_written(r.has_value() && (*written)[i]);
      });
}

}  // namespace sg::stream
