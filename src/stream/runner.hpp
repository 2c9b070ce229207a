// Drives one stream through its pipeline: initializing → analyzing (prompt cards from the store) →
// generating → finalizing. The stream manager's own header: included by its sources only.
#pragma once

#include "stream/stream_manager.hpp"

#include "core/clock.hpp"
#include "core/ids.hpp"
#include "core/log.hpp"
#include "store/store.hpp"

#include <algorithm>
#include <chrono>

namespace sg::stream {

// The progress events every stream sends, in order (a provider may send its own between them).
struct stage {
  std::string_view name;
  std::string_view step;  // the text a client shows
  int percent;
};
inline constexpr stage stage_initializing{"initializing", "Initializing stream...", 5};
inline constexpr stage stage_analyzing{"analyzing", "Analyzing prompt cards...", 20};
inline constexpr stage stage_generating{"generating", "Generating with the provider...", 40};  // names the provider
inline constexpr stage stage_finalizing{"finalizing", "Saving the answer...", 90};

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
    if (req_.stages)
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
    if (req_.stages) s_->publish_progress(stage, step, pct);
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
  // The history the question's rows go to: {project, owner} (store::database::hold_histories).
  std::pair<std::string_view, std::string_view> history() const { return {req_.project_id, s_->owner()}; }
  const std::string& stream_id() const { return s_->id(); }

  // On a store thread, inside a transaction (or a savepoint of one) that holds history(): the
  // question's two rows, next to each other in it.
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
                store::in_write_transaction(db, [&](bool) {
                  db.hold_histories({self->history()});
                  self->write_question(db, text, status);
                });
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
    // Saved with the answers that end within end_gather of it, in one transaction; the terminal
    // event follows the save.
    m_.defer_end({self, status, s_->text(), [self, status, make_event](bool saved_ok) {
                    net::post(self->ex_, [self, status, make_event, saved_ok] { self->end(status, make_event, saved_ok); });
                  }});
  }

 public:
  // On a store thread, inside a transaction (or a savepoint of one): the answer's row as the stream
  // ended, `text` with `status`.
  void save_answer(store::database& db, const std::string& text, const std::string& status) {
    if (!persist_ || !req_.record) return;
    if (db.set_answer(s_->id(), text, status, false)) return;
    store::message_row msg;  // recorded before answers were rows from their start
    msg.owner = s_->owner();
    msg.project_id = req_.project_id;
    msg.role = "assistant";
    msg.content = text;
    msg.status = status;
    msg.stream_id = s_->id();
    msg.created_at = core::now_ms();
    db.add_message(msg);
  }

 private:
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

}  // namespace sg::stream
