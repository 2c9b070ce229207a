// What the stream manager does beyond one process: stream starts under the limits every node shares,
// streams found on other nodes, and the history: questions written in batches, and the checkpoints
// that a crash leaves behind, and answers' ends saved in batches.
#include "stream/runner.hpp"

#include <algorithm>

namespace sg::stream {
namespace {
constexpr auto checkpoint_period = std::chrono::seconds(1);

// Inside a write transaction (`own`: begun for this work), `item(i)` for each i below done.size(),
// each in a savepoint of its own, so one that fails (its project's owner changed, the store is full)
// leaves the others written; done[i] is set for each that was. A failure that makes SQLite roll the
// whole transaction back (a full disk, say) takes the items before it along: they are unmarked, and
// the rest start a transaction of their own.
template <class Item>
void each_in_savepoint(store::store& st, store::database& db, bool own, std::vector<char>& done, Item item) {
  for (std::size_t i = 0; i < done.size(); ++i) {
    try {
      db.exec("SAVEPOINT item");
      item(i);
      db.exec("RELEASE SAVEPOINT item");
      done[i] = 1;
    } catch (const std::exception& e) {
      st.failed_item(e);
      if (db.in_transaction()) {
        try {
          db.exec("ROLLBACK TO SAVEPOINT item");
          db.exec("RELEASE SAVEPOINT item");
        } catch (const std::exception&) {
        }
      } else {
        std::fill(done.begin(), done.begin() + static_cast<std::ptrdiff_t>(i), 0);
        if (!own) throw;
        db.begin_write();
      }
    }
  }
}
}  // namespace

void stream_manager::start_anywhere(proto::stream_request req, std::string owner, std::string limit_key,
                                    net::any_io_executor ex, std::function<void(start_result)> done) {
  if (!remote_) return done(start(std::move(req), std::move(owner), std::move(limit_key), std::move(ex)));
  start_result out;
  std::string pname = req.provider.empty() ? cfg_.provider : req.provider;
  if (!accepting_) {
    out.error = proto::error_info{proto::error_code::interrupted, "the server is shutting down", true, {}, {}};
  } else if (!providers_.count(pname)) {
    out.error = proto::error_info{proto::error_code::bad_request, "unknown provider '" + pname + "'", false, {},
                                  "provider"};
  }
  if (out.error) return done(std::move(out));
  // The limits and the requestId are the cluster's: one round trip decides, then the stream starts here.
  remote_streams::admission adm{core::random_id("st_"), limit_key,
                                req.request_id.empty() ? std::string() : owner + '\n' + req.request_id};
  remote_->admit(adm, ex,
                 [this, adm, req = std::move(req), owner = std::move(owner), limit_key = std::move(limit_key), ex,
                  done = std::move(done)](remote_streams::admit_result a) mutable {
                   if (a.unchecked)
                     return done(start(std::move(req), std::move(owner), std::move(limit_key), std::move(ex)));
                   if (a.error) {
                     if (a.error->code == proto::error_code::rate_limited)
                       counters_.rate_limited_starts.fetch_add(1, std::memory_order_relaxed);
                     return done(start_result{nullptr, std::move(a.error), false});
                   }
                   if (!a.existing.empty()) {
                     // A retry of a request some node already started: that stream, wherever it runs.
                     return find_anywhere(a.existing, ex, [done](lookup s) {
                       start_result r;
                       if (!s) {
                         r.error = lookup_unavailable();
                       } else if (*s) {
                         r.s = std::move(*s);
                         r.reused = true;
                       } else {
                         r.error = proto::error_info{proto::error_code::not_found,
                                                     "the stream this requestId started is gone", false, {}, {}};
                       }
                       done(std::move(r));
                     });
                   }
                   if (!accepting_)
                     return done(start_result{
                         nullptr,
                         proto::error_info{proto::error_code::interrupted, "the server is shutting down", true, {}, {}},
                         false});
                   // The client learns the stream's id once Redis knows the stream, so that it can
                   // resume on any node from its first event (one round trip, before the first token).
                   auto started = std::make_shared<std::shared_ptr<stream>>();
                   auto answer = [ex, done, started] {
                     net::post(ex, [done, started] { done(start_result{*started, std::nullopt, false}); });
                   };
                   // The stored callback may come (from the cluster strand) before create() returns:
                   // whichever of the two comes second answers.
                   auto once = std::make_shared<std::atomic<int>>(0);
                   auto stored = [answer, once] {
                     if (once->fetch_add(1) == 1) answer();
                   };
                   auto r = create(adm.stream_id, std::move(req), std::move(owner), std::move(limit_key), ex,
                                   adm.request_key, true, stored);
                   if (r.error) return done(std::move(r));
                   *started = r.s;
                   if (once->fetch_add(1) == 1) answer();
                 });
}

void stream_manager::find_anywhere(const std::string& id, net::any_io_executor ex, found_fn found,
                                   std::uint64_t seen) {
  auto s = find(id);
  if (s || !remote_) {
    found(std::move(s));
    return;
  }
  remote_->find(id, seen, std::move(ex), std::move(found));
}

// Every second, the text of each recorded answer that grew goes to its history row, all in one
// store transaction: what a crash leaves is at most a second behind. The I/O thread only lists the
// streams; the store thread copies their texts as it writes them (stream::text_to_checkpoint).
void stream_manager::start_checkpoints() {
  checkpoint_timer_.expires_after(checkpoint_period);
  checkpoint_timer_.async_wait([this](error_code ec) {
    if (ec || stopped_) return;
    checkpoint();
    start_checkpoints();
  });
}

void stream_manager::checkpoint() {
  if (checkpoint_waiting_->load(std::memory_order_acquire) != 0) {
    checkpoints_skipped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  std::vector<std::shared_ptr<stream>> running;
  {
    std::lock_guard lock(mu_);
    running.reserve(recording_.size());
    for (auto& [id, s] : recording_) running.push_back(s);
  }
  if (running.empty()) return;
  // Rows are updated in stream-id order, as a batch of ends updates its rows (write_ends): two
  // transactions that take row locks in one order cannot deadlock (PostgreSQL, where a checkpoint
  // and a batch of ends run on different connections at once).
  std::sort(running.begin(), running.end(), [](auto& a, auto& b) { return a->id() < b->id(); });
  const auto number = checkpoints_.fetch_add(1, std::memory_order_relaxed) + 1;
  checkpoint_waiting_->store(number, std::memory_order_release);
  // The mark falls when the store starts the work, before it reads a text (a checkpoint handed over
  // from then on takes what is added after), or when the store drops the work unrun (a batch it
  // could not begin: PostgreSQL out of reach). Only this checkpoint's own mark.
  std::shared_ptr<void> mark(nullptr, [waiting = checkpoint_waiting_, number](void*) {
    auto expected = number;
    waiting->compare_exchange_strong(expected, 0, std::memory_order_acq_rel);
  });
  store_.run([running = std::move(running), mark = std::move(mark)](store::database& db) mutable {
    mark.reset();
    for (auto& s : running)
      if (auto text = s->text_to_checkpoint()) db.set_answer(s->id(), *text, "streaming", true);
  });
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

// One transaction for every question that came within record_gather, each in a savepoint of its own.
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
        store::in_write_transaction(db, [&](bool own) {
          // Each question's two rows stay together in its history, whatever another connection
          // (a second store thread, another node) writes there meanwhile.
          std::vector<std::pair<std::string_view, std::string_view>> histories;
          histories.reserve(batch->size());
          for (auto& r : *batch) histories.push_back(r->history());
          db.hold_histories(histories);
          each_in_savepoint(store_, db, own, *written, [&](std::size_t i) { (*batch)[i]->write_question(db); });
        });
        questions_written_.fetch_add(static_cast<std::uint64_t>(std::count(written->begin(), written->end(), 1)),
                                     std::memory_order_relaxed);
      },
      [batch, written](store::result<void> r) {
        for (std::size_t i = 0; i < batch->size(); ++i) (*batch)[i]->question_written(r.has_value() && (*written)[i]);
      });
}

void stream_manager::defer_end(answer_end e) {
  {
    std::lock_guard lock(ends_mu_);
    ends_.push_back(std::move(e));
    if (!stopped_) {
      if (ends_.size() > 1) return;
      end_timer_.expires_after(end_gather);
      end_timer_.async_wait([this](error_code ec) {
        if (!ec) write_ends();
      });
      return;
    }
  }
  write_ends();
}

// One transaction for every answer that ended within end_gather, each in a savepoint of its own.
// Every end then goes on, saved or not: the client has the answer either way, and the stream must
// end so its slot, its subscribers and a drain are released.
void stream_manager::write_ends() {
  auto batch = std::make_shared<std::vector<answer_end>>();
  {
    std::lock_guard lock(ends_mu_);
    batch->swap(ends_);
  }
  if (batch->empty()) return;
  // In stream-id order, as the checkpoint updates its rows: see checkpoint().
  std::sort(batch->begin(), batch->end(), [](auto& a, auto& b) { return a.r->stream_id() < b.r->stream_id(); });
  answer_end_batches_.fetch_add(1, std::memory_order_relaxed);
  auto saved = std::make_shared<std::vector<char>>(batch->size(), 0);
  store_.exec(
      [this, batch, saved](store::database& db) {
        store::in_write_transaction(db, [&](bool own) {
          each_in_savepoint(store_, db, own, *saved, [&](std::size_t i) {
            auto& e = (*batch)[i];
            e.r->save_answer(db, e.text, e.status);
          });
        });
        answer_ends_saved_.fetch_add(static_cast<std::uint64_t>(std::count(saved->begin(), saved->end(), 1)),
                                     std::memory_order_relaxed);
      },
      [batch, saved](store::result<void> r) {
        for (std::size_t i = 0; i < batch->size(); ++i) (*batch)[i].saved(r.has_value() && (*saved)[i]);
      });
}

}  // namespace sg::stream
