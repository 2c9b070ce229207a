// The store: the database on threads of its own, so no write (SQLite or libpq) and no PostgreSQL
// round trip blocks an I/O thread. Short SQLite reads may run on the caller's thread (read()).
#pragma once

#include "core/histogram.hpp"
#include "store/database.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <vector>

namespace sg::store {

class sqlite_database;

/// Why store work failed: the database is full (its size cap or the disk), or unusable otherwise
/// (including a database server that cannot be reached).
enum class errc { unavailable = 1, full };
const boost::system::error_category& store_category();
boost::system::error_code make_error_code(errc e);

/// The outcome of store work: its value, or the error that stopped it.
template <class T>
using result = boost::system::result<T>;

/// Which database, from --database: `sqlite:PATH` or `postgres://…` / `postgresql://…`.
struct database_url {
  enum class engine { sqlite, postgres };
  engine kind = engine::sqlite;
  std::string target;  // the SQLite file, or the libpq connection URL
  /// Parses `url`; empty means `sqlite:<data_dir>/streamgate.db`. Throws std::invalid_argument.
  static database_url parse(const std::string& url, const std::string& data_dir);
  /// The URL fit for a log line: a password in it is replaced by "***".
  std::string redacted() const;
};

/// How long the first item of a batch waits for others to join it (store::run): long enough that a
/// burst of connections writes each leaf page of the table once per commit rather than once per row.
inline constexpr std::chrono::milliseconds default_batch_gather{50};

struct options {
  std::string database;  // a database_url; empty = SQLite in data_dir
  std::string data_dir = "./data";
  std::int64_t max_bytes = 0;  // SQLite only: cap on the file (0: none)
  unsigned pool_size = 2;      // PostgreSQL only: connections, each with a thread of its own
  std::chrono::milliseconds batch_gather = default_batch_gather;
};

class store {
 public:
  /// Opens the database and applies its migrations. Throws on failure (PostgreSQL unreachable
  /// included: a server starts only with its store).
  explicit store(const options& opts);
  /// SQLite in `data_dir` (created if missing), capped at `max_bytes` (0: no cap).
  explicit store(const std::string& data_dir, std::int64_t max_bytes = 0);
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Runs `work(database&)` on a store thread, then `done(result<T>)` there, where T is what
  /// `work` returns: exactly once, with the value or with the error that stopped it, so the caller
  /// can always answer its client and release what it holds. On PostgreSQL `work` runs in a
  /// transaction of its own, rolled back when it throws. With a pool, work items posted one after
  /// another may run at the same time on different connections. Thread-safe.
  template <class Work, class Done>
  void exec(Work work, Done done) {
    started();
    boost::asio::post(ioc_, [this, work = std::move(work), done = std::move(done)]() mutable {
      using T = std::invoke_result_t<Work&, database&>;
      auto t0 = std::chrono::steady_clock::now();
      std::optional<result<T>> r;
      database& db = here();
      try {
        open_work(db);
        if constexpr (std::is_void_v<T>) {
          work(db);
          r.emplace();
        } else {
          r.emplace(work(db));
        }
        close_work(db);
      } catch (const std::exception& e) {
        abandon_work(db);
        r.emplace(boost::system::in_place_error, failed(e));
      }
      timed(t0);
      done(std::move(*r));
      finished();
    });
  }

  /// Runs `work(database&)`, which must only read, then `done(result<T>)`. With SQLite both run
  /// here, on the calling thread's own read-only connection, which waits for no lock and no other
  /// thread: a stream's first token does not wait for a hop to the store thread and back. Where
  /// that cannot be (PostgreSQL, a busy or failing read), it runs as `exec` does. Thread-safe.
  template <class Work, class Done>
  void read(Work work, Done done) {
    using T = std::invoke_result_t<Work&, database&>;
    static_assert(!std::is_void_v<T>, "a read returns what it read");
    if (database* db = reader()) {
      auto t0 = std::chrono::steady_clock::now();
      std::optional<result<T>> r;
      try {
        // One snapshot for all of it, and one lock taken instead of one per statement.
        db->begin();
        r.emplace(work(*db));
        db->commit();
      } catch (const std::exception&) {
        // Read again on the store thread, which waits for locks and reports what failed.
        r.reset();
        try {
          if (db->in_transaction()) db->rollback();
        } catch (const std::exception&) {
        }
      }
      if (r) {
        timed(t0);
        reads_here_.fetch_add(1, std::memory_order_relaxed);
        done(std::move(*r));
        return;
      }
    }
    exec(std::move(work), std::move(done));
  }
  /// SQLite: odd while a write to a project or a card is under way, moved on when it commits or rolls
  /// back (see project_cache). Null on PostgreSQL, whose writers may be other processes.
  const std::atomic<std::uint64_t>* project_generation() const {
    return url_.kind == database_url::engine::sqlite ? &project_generation_ : nullptr;
  }
  /// Reads that `read` ran on the calling thread (for metrics and tests).
  std::uint64_t reads_here() const { return reads_here_.load(std::memory_order_relaxed); }

  /// Fire-and-forget work (the connection table): a failure is logged and counted, nothing waits on it.
  /// Work queued within options::batch_gather of a batch's first item joins it; the batch runs in one transaction (one
  /// commit for a burst of connections instead of one each); batches run one at a time, in order. Thread-safe.
  void run(std::function<void(database&)> fn);
  /// Transactions that fire-and-forget work ran in, and the work items they held (for metrics).
  std::uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  std::uint64_t batched_items() const { return batched_items_.load(std::memory_order_relaxed); }
  /// Blocks until everything posted so far ran (start-up, shutdown and tests). A batch being gathered
  /// runs at once: nothing waits out its gather time.
  void flush();
  /// Latency of the last write, in microseconds (for metrics).
  std::int64_t last_op_us() const { return last_op_us_.load(std::memory_order_relaxed); }
  /// Duration of every store operation.
  const core::histogram& op_latency() const { return op_latency_; }
  /// Store operations that failed since start.
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  /// Logs and counts, as errors() does, a failure that work caught itself (one item of a batch).
  void failed_item(const std::exception& e) { failed(e); }
  /// WAL checkpoints run by the checkpoint thread since start (SQLite).
  std::uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }
  /// "sqlite" or "postgres".
  const char* engine() const { return url_.kind == database_url::engine::sqlite ? "sqlite" : "postgres"; }
  /// Connections (threads) working for the store.
  std::size_t pool_size() const { return dbs_.size(); }

 private:
  boost::system::error_code failed(const std::exception& e);
  void timed(std::chrono::steady_clock::time_point t0);
  database& here();
  // The calling thread's read-only SQLite connection, opened on first use; null on PostgreSQL or
  // when it cannot be opened.
  database* reader();
  void open_work(database& db);
  void close_work(database& db);
  void abandon_work(database& db);
  void started();
  void finished();

  void open_sqlite(std::int64_t max_bytes);
  void checkpoint_loop(std::string path);
  void run_batch();

  database_url url_;
  std::mutex batch_mu_;
  std::vector<std::function<void(database&)>> batch_;
  struct gather;                      // the timer of a batch being gathered
  std::shared_ptr<gather> gathering_;  // the batch being gathered, if one is
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> batched_items_{0};

  // One connection per store thread; with SQLite, one of each.
  std::vector<std::unique_ptr<database>> dbs_;
  sqlite_database* sqlite_ = nullptr;
  // SQLite: a read-only connection per thread that called read(), by thread.
  std::uint64_t serial_;  // tells this store from one that had its address before
  std::mutex readers_mu_;
  std::unordered_map<std::thread::id, std::unique_ptr<sqlite_database>> readers_;
  std::atomic<std::uint64_t> reads_here_{0};
  std::atomic<std::uint64_t> project_generation_{0};
  bool transactional_ = false;  // each exec in a transaction of its own (PostgreSQL)
  // WAL checkpoints (and their fsyncs) run on a connection and thread of their own, woken by commits
  // that leave the WAL long: the store thread never waits for the disk to flush.
  std::thread checkpointer_;
  std::mutex ck_mu_;
  std::condition_variable ck_cv_;
  bool ck_wanted_ = false;
  bool ck_stop_ = false;
  std::atomic<std::uint64_t> checkpoints_{0};
  std::mutex pending_mu_;
  std::condition_variable pending_cv_;
  std::size_t pending_ = 0;
  boost::asio::io_context ioc_;
  boost::asio::strand<boost::asio::io_context::executor_type> batches_strand_;
  const std::chrono::milliseconds batch_gather_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
  std::atomic<std::int64_t> last_op_us_{0};
  std::atomic<std::uint64_t> errors_{0};
  core::histogram op_latency_;
};

}  // namespace sg::store

namespace boost::system {
template <>
struct is_error_code_enum<sg::store::errc> : std::true_type {};
}  // namespace boost::system
