// The store: a database owned by one thread of its own, so SQLite never blocks an I/O thread.
#pragma once

#include "core/histogram.hpp"
#include "store/database.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/result.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <chrono>
#include <functional>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

namespace sg::store {

/// Why store work failed: the database is full (its size cap or the disk), or unusable otherwise.
enum class errc { unavailable = 1, full };
const boost::system::error_category& store_category();
boost::system::error_code make_error_code(errc e);

/// The outcome of store work: its value, or the error that stopped it.
template <class T>
using result = boost::system::result<T>;

class store {
 public:
  /// Opens the database in `data_dir` (created if missing), capped at `max_bytes` (0: no cap).
  /// Throws on failure.
  explicit store(const std::string& data_dir, std::int64_t max_bytes = 0);
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Runs `work(database&)` on the store thread, then `done(result<T>)` there, where T is what
  /// `work` returns: exactly once, with the value or with the error that stopped it, so the caller
  /// can always answer its client and release what it holds. Thread-safe.
  template <class Work, class Done>
  void exec(Work work, Done done) {
    boost::asio::post(ioc_, [this, work = std::move(work), done = std::move(done)]() mutable {
      using T = std::invoke_result_t<Work&, database&>;
      auto t0 = std::chrono::steady_clock::now();
      std::optional<result<T>> r;
      try {
        if constexpr (std::is_void_v<T>) {
          work(db_);
          r.emplace();
        } else {
          r.emplace(work(db_));
        }
      } catch (const std::exception& e) {
        r.emplace(failed(e));
      }
      timed(t0);
      done(std::move(*r));
    });
  }

  /// Fire-and-forget work (the connection table): a failure is logged and counted, nothing waits on it.
  /// Work queued while the store thread is busy runs together, in one transaction (one commit for a
  /// burst of connections instead of one each). Thread-safe.
  void run(std::function<void(database&)> fn);
  /// Transactions that fire-and-forget work ran in, and the work items they held (for metrics).
  std::uint64_t batches() const { return batches_.load(std::memory_order_relaxed); }
  std::uint64_t batched_items() const { return batched_items_.load(std::memory_order_relaxed); }
  /// Blocks until everything posted so far ran (start-up and shutdown only).
  void flush();
  /// Latency of the last write, in microseconds (for metrics).
  std::int64_t last_op_us() const { return last_op_us_.load(std::memory_order_relaxed); }
  /// Duration of every store operation (all of them write or read SQLite).
  const core::histogram& op_latency() const { return op_latency_; }
  /// Store operations that failed since start.
  std::uint64_t errors() const { return errors_.load(std::memory_order_relaxed); }
  /// WAL checkpoints run by the checkpoint thread since start.
  std::uint64_t checkpoints() const { return checkpoints_.load(std::memory_order_relaxed); }

 private:
  boost::system::error_code failed(const std::exception& e);
  void timed(std::chrono::steady_clock::time_point t0);

  void checkpoint_loop(std::string path);
  void run_batch();

  std::mutex batch_mu_;
  std::vector<std::function<void(database&)>> batch_;
  std::atomic<std::uint64_t> batches_{0};
  std::atomic<std::uint64_t> batched_items_{0};

  database db_;
  // WAL checkpoints (and their fsyncs) run on a connection and thread of their own, woken by commits
  // that leave the WAL long: the store thread never waits for the disk to flush.
  std::thread checkpointer_;
  std::mutex ck_mu_;
  std::condition_variable ck_cv_;
  bool ck_wanted_ = false;
  bool ck_stop_ = false;
  std::atomic<std::uint64_t> checkpoints_{0};
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::atomic<std::int64_t> last_op_us_{0};
  std::atomic<std::uint64_t> errors_{0};
  core::histogram op_latency_;
};

}  // namespace sg::store

namespace boost::system {
template <>
struct is_error_code_enum<sg::store::errc> : std::true_type {};
}  // namespace boost::system
