// The store thread: runs posted database work in order.
#include "store/store.hpp"

#include "core/log.hpp"

#include <chrono>
#include <filesystem>
#include <future>

namespace sg::store {
namespace {
// SQLite's own default for its automatic checkpoint.
constexpr int wal_pages_before_checkpoint = 1000;
// Past this the writer checkpoints itself (16 MiB of 4 KiB pages).
constexpr int wal_pages_limit = 4000;

std::string db_path(const std::string& dir) {
  std::filesystem::create_directories(dir);
  return (std::filesystem::path(dir) / "streamgate.db").string();
}
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

store::store(const std::string& data_dir, std::int64_t max_bytes)
    : db_(db_path(data_dir)), work_(ioc_.get_executor()) {
  db_.limit_size(max_bytes);
  db_.checkpoint_elsewhere([this](int pages) {
    if (pages < wal_pages_before_checkpoint) return;
    if (pages >= wal_pages_limit) {
      // Writes never paused long enough for the checkpoint thread to catch up: this commit waits
      // for one (as every commit past SQLite's threshold would by default), so the WAL stays bounded.
      if (db_.checkpoint()) checkpoints_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    std::lock_guard lock(ck_mu_);
    ck_wanted_ = true;
    ck_cv_.notify_one();
  });
  checkpointer_ = std::thread([this, path = db_path(data_dir)] { checkpoint_loop(path); });
  thread_ = std::thread([this] { ioc_.run(); });
}

store::~store() {
  work_.reset();
  thread_.join();
  {
    std::lock_guard lock(ck_mu_);
    ck_stop_ = true;
  }
  ck_cv_.notify_one();
  checkpointer_.join();
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

void store::run(std::function<void(database&)> fn) {
  bool first = false;
  {
    std::lock_guard lock(batch_mu_);
    first = batch_.empty();
    batch_.push_back(std::move(fn));
  }
  // The first item of a batch schedules it; the rest join it until the store thread takes it.
  if (first) boost::asio::post(ioc_, [this] { run_batch(); });
}

void store::run_batch() {
  std::vector<std::function<void(database&)>> work;
  {
    std::lock_guard lock(batch_mu_);
    work.swap(batch_);
  }
  if (work.empty()) return;
  auto t0 = std::chrono::steady_clock::now();
  // Failures are logged and counted by failed(); nobody waits on this work. A failed statement
  // undoes itself only, so the others still commit.
  bool began = false;
  try {
    db_.exec("BEGIN");
    began = true;
  } catch (const std::exception& e) {
    failed(e);
  }
  for (auto& w : work) {
    try {
      w(db_);
    } catch (const std::exception& e) {
      failed(e);
    }
  }
  if (began && db_.in_transaction()) {
    try {
      db_.exec("COMMIT");
    } catch (const std::exception& e) {
      failed(e);
      try {
        db_.exec("ROLLBACK");
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
  if (auto* de = dynamic_cast<const database_error*>(&e); de && (de->code() & 0xff) == SQLITE_FULL)
    return make_error_code(errc::full);
  return make_error_code(errc::unavailable);
}

void store::timed(std::chrono::steady_clock::time_point t0) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
  last_op_us_.store(us, std::memory_order_relaxed);
  op_latency_.observe_ms(static_cast<double>(us) / 1000.0);
}

void store::flush() {
  std::promise<void> done;
  auto f = done.get_future();
  boost::asio::post(ioc_, [&done] { done.set_value(); });
  f.wait();
}

}  // namespace sg::store
