// The store threads: run posted database work; batches of fire-and-forget work run in order.
#include "store/store.hpp"

#include "core/log.hpp"
#include "core/thread_class.hpp"
#include "store/postgres_database.hpp"
#include "store/sqlite_database.hpp"

#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <filesystem>
#include <stdexcept>

namespace sg::store {
namespace {
// SQLite's own default for its automatic checkpoint.
constexpr int wal_pages_before_checkpoint = 1000;
// Past this the writer checkpoints itself (16 MiB of 4 KiB pages).
constexpr int wal_pages_limit = 4000;
// The largest PostgreSQL pool: each connection is a server process and a thread here.
constexpr unsigned max_pool_size = 64;

thread_local database* this_threads_db = nullptr;
std::atomic<std::uint64_t> store_serials{0};
// The read-only connection this thread last used, and the store it belongs to.
thread_local std::pair<std::uint64_t, database*> this_threads_reader{0, nullptr};

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }
}  // namespace

class store_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "store"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::unavailable: return "the store is unavailable";
      case errc::full: return "the store is full";
    }
    return "store error";
  }
};

const boost::system::error_category& store_category() {
  static const store_category_impl c;
  return c;
}

boost::system::error_code make_error_code(errc e) { return {static_cast<int>(e), store_category()}; }

database_url database_url::parse(const std::string& url, const std::string& data_dir) {
  database_url out;
  if (url.empty()) {
    out.target = (std::filesystem::path(data_dir) / "streamgate.db").string();
  } else if (starts_with(url, "sqlite:")) {
    out.target = url.substr(7);
    // sqlite:///abs/path and sqlite://rel/path as well as sqlite:PATH.
    if (starts_with(out.target, "//")) out.target = out.target.substr(2);
    if (out.target.empty()) throw std::invalid_argument("--database: sqlite: needs a file path (sqlite:PATH)");
  } else if (starts_with(url, "postgres://") || starts_with(url, "postgresql://")) {
    out.kind = engine::postgres;
    out.target = url;
  } else {
    throw std::invalid_argument("--database: expected sqlite:PATH or postgres://…, got '" + database_url{engine::postgres, url}.redacted() + "'");
  }
  return out;
}

std::string database_url::redacted() const {
  if (kind == engine::sqlite) return "sqlite:" + target;
  // scheme://user:password@host… → scheme://user:***@host…
  auto scheme = target.find("://");
  auto at = target.find('@', scheme == std::string::npos ? 0 : scheme + 3);
  if (scheme == std::string::npos || at == std::string::npos) return target;
  auto colon = target.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return target;
  return target.substr(0, colon + 1) + "***" + target.substr(at);
}

store::store(const std::string& data_dir, std::int64_t max_bytes)
    : store(options{.database = {}, .data_dir = data_dir, .max_bytes = max_bytes, .pool_size = 1}) {}

store::store(const options& opts)
    : url_(database_url::parse(opts.database, opts.data_dir)),
      serial_(++store_serials),
      batches_strand_(ioc_.get_executor()),
      batch_gather_(opts.batch_gather),
      work_(ioc_.get_executor()) {
  if (url_.kind == database_url::engine::sqlite) {
    open_sqlite(opts.max_bytes);
  } else {
    if (opts.pool_size == 0 || opts.pool_size > max_pool_size)
      throw std::invalid_argument("--database-pool-size: between 1 and " + std::to_string(max_pool_size));
    transactional_ = true;
    // The first connection applies the migrations before the others open. They share a count of
    // connects, so one reconnected connection ends the others' backoff.
    auto pool = std::make_shared<std::atomic<std::uint64_t>>(0);
    for (unsigned i = 0; i < opts.pool_size; ++i)
      dbs_.push_back(std::make_unique<postgres_database>(url_.target, i == 0, pool));
  }
  for (auto& db : dbs_)
    threads_.emplace_back([this, d = db.get()] {
      core::name_this_thread("sg-store");
      this_threads_db = d;
      ioc_.run();
    });
}

void store::open_sqlite(std::int64_t max_bytes) {
  // SQLite's memory statistics take a process-wide mutex on every allocation it makes; nothing
  // reads them. Only possible before SQLite initializes: the first store of the process does it.
  static const bool no_memory_stats = [] { return sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0) == SQLITE_OK; }();
  (void)no_memory_stats;
  auto parent = std::filesystem::path(url_.target).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  auto db = std::make_unique<sqlite_database>(url_.target);
  sqlite_ = db.get();
  dbs_.push_back(std::move(db));
  sqlite_->limit_size(max_bytes);
  sqlite_->checkpoint_elsewhere([this](int pages) {
    if (pages < wal_pages_before_checkpoint) return;
    if (pages >= wal_pages_limit) {
      // Writes never paused long enough for the checkpoint thread to catch up: this commit waits
      // for one (as every commit past SQLite's threshold would by default), so the WAL stays bounded.
      if (sqlite_->checkpoint()) checkpoints_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(ck_mu_);
    ck_wanted_ = true;
    ck_cv_.notify_one();
  });
  sqlite_->track_project_writes(&project_generation_);
  checkpointer_ = std::thread([this] {
    core::name_this_thread("sg-wal");
    checkpoint_loop(url_.target);
  });
}

store::~store() {
  work_.reset();
  for (auto& t : threads_) t.join();
  if (checkpointer_.joinable()) {
    {
      std::lock_guard lock(ck_mu_);
      ck_stop_ = true;
    }
    ck_cv_.notify_one();
    checkpointer_.join();
  }
}

database& store::here() { return *this_threads_db; }

database* store::reader() {
  if (!sqlite_) return nullptr;
  if (this_threads_reader.first == serial_) return this_threads_reader.second;
  std::lock_guard lock(readers_mu_);
  auto [it, opened] = readers_.try_emplace(std::this_thread::get_id());
  auto& db = it->second;
  if (opened) {
    try {
      db = std::make_unique<sqlite_database>(url_.target, sqlite_database::read_only);
    } catch (const std::exception& e) {
      // Stays null: this thread's reads go to the store thread from now on.
      core::log_warn("read-only store connection failed; reads go to the store thread", {{"error", e.what()}});
    }
  }
  this_threads_reader = {serial_, db.get()};
  return db.get();
}

void store::open_work(database& db) {
  db.ensure_connected();
  if (transactional_) db.begin();
}

void store::close_work(database& db) {
  if (transactional_) db.commit();
}

void store::abandon_work(database& db) {
  if (!transactional_ || !db.in_transaction()) return;
  try {
    db.rollback();
  } catch (const std::exception&) {
    // The connection is gone; the server rolled the transaction back with it.
  }
}

void store::started() {
  std::lock_guard lock(pending_mu_);
  ++pending_;
}

void store::finished() {
  std::lock_guard lock(pending_mu_);
  if (--pending_ == 0) pending_cv_.notify_all();
}

void store::checkpoint_loop(std::string path) {
  sqlite3* raw = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> db(raw, sqlite3_close);
  if (rc != SQLITE_OK) {
    core::log_error("checkpoint connection failed; the WAL grows until restart", {{"error", sqlite3_errstr(rc)}});
    return;
  }
  sqlite3_busy_timeout(raw, 1000);
  for (;;) {
    {
      std::unique_lock lock(ck_mu_);
      ck_cv_.wait(lock, [this] { return ck_wanted_ || ck_stop_; });
      if (ck_stop_) return;
      ck_wanted_ = false;
    }
    // PASSIVE: copies what it can without blocking the writer; the next writer restarts the WAL.
    int log = 0, done = 0;
    rc = sqlite3_wal_checkpoint_v2(raw, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
    if (rc == SQLITE_OK) checkpoints_.fetch_add(1, std::memory_order_relaxed);
    else if (rc != SQLITE_BUSY) core::log_warn("wal checkpoint failed", {{"error", sqlite3_errstr(rc)}});
  }
}

struct store::gather {
  gather(const boost::asio::strand<boost::asio::io_context::executor_type>& on, std::chrono::milliseconds wait)
      : timer(on, wait) {}
  boost::asio::steady_timer timer;
};

void store::run(std::function<void(database&)> fn) {
  // The first item of a batch schedules it, batch_gather_ later; the rest join it until a store
  // thread takes it. A burst of connections is one commit, not one each (nobody waits on this
  // work). The strand keeps batches in order (a connection's row is put before it is deleted).
  std::lock_guard lock(batch_mu_);
  bool first = batch_.empty();
  batch_.push_back(std::move(fn));
  if (!first) return;
  started();
  auto g = std::make_shared<gather>(batches_strand_, batch_gather_);
  gathering_ = g;
  // Run when the time is up, or at once when flush() cancels the wait.
  g->timer.async_wait([this, g](boost::system::error_code) {
    {
      std::lock_guard hold(batch_mu_);
      if (gathering_ == g) gathering_.reset();
    }
    run_batch();
    finished();
  });
}

void store::run_batch() {
  std::vector<std::function<void(database&)>> work;
  {
    std::lock_guard lock(batch_mu_);
    work.swap(batch_);
  }
  if (work.empty()) return;
  auto& db = here();
  auto t0 = std::chrono::steady_clock::now();
  // Failures are logged and counted by failed(); nobody waits on this work. A failed item undoes
  // itself only (on PostgreSQL, through a savepoint of its own), so the others still commit.
  bool began = false;
  try {
    db.ensure_connected();
    db.begin();
    began = true;
  } catch (const database_error& e) {
    if (e.disconnected()) {
      // No server to run them on: the batch is dropped as a whole, with one log line.
      errors_.fetch_add(work.size(), std::memory_order_relaxed);
      core::log_error("store batch dropped", {{"error", e.what()}, {"items", work.size()}});
      timed(t0);
      return;
    }
    failed(e);
  } catch (const std::exception& e) {
    failed(e);
  }
  bool savepoints = began && db.failed_statement_aborts_transaction();
  for (auto& w : work) {
    try {
      if (savepoints) db.exec("SAVEPOINT item");
      w(db);
      if (savepoints) db.exec("RELEASE SAVEPOINT item");
    } catch (const std::exception& e) {
      failed(e);
      if (savepoints && db.in_transaction()) {
        try {
          db.exec("ROLLBACK TO SAVEPOINT item");
          db.exec("RELEASE SAVEPOINT item");
        } catch (const std::exception&) {
        }
      }
    }
  }
  if (began && db.in_transaction()) {
    try {
      db.commit();
    } catch (const std::exception& e) {
      failed(e);
      try {
        if (db.in_transaction()) db.rollback();
      } catch (const std::exception&) {
      }
    }
  }
  timed(t0);
  batches_.fetch_add(1, std::memory_order_relaxed);
  batched_items_.fetch_add(work.size(), std::memory_order_relaxed);
}

boost::system::error_code store::failed(const std::exception& e) {
  errors_.fetch_add(1, std::memory_order_relaxed);
  core::log_error("store operation failed", {{"error", e.what()}});
  if (auto* de = dynamic_cast<const database_error*>(&e); de && de->full()) return make_error_code(errc::full);
  return make_error_code(errc::unavailable);
}

void store::timed(std::chrono::steady_clock::time_point t0) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  last_op_us_.store(us, std::memory_order_relaxed);
  op_latency_.observe_ms(static_cast<double>(us) / 1000.0);
}

void store::flush() {
  std::shared_ptr<gather> gathering;
  {
    std::lock_guard lock(batch_mu_);
    gathering = gathering_;
  }
  // Cancelled on the strand that waits on it (a timer is not thread-safe); a wait that already
  // ended is not affected.
  if (gathering) boost::asio::post(batches_strand_, [gathering] { gathering->timer.cancel(); });
  std::unique_lock lock(pending_mu_);
  pending_cv_.wait(lock, [this] { return pending_ == 0; });
}

}  // namespace sg::store
