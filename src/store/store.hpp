// The store: a database owned by one thread of its own, so SQLite never blocks an I/O thread.
#pragma once

#include "core/histogram.hpp"
#include "store/database.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/executor_work_guard.hpp>

#include <atomic>
#include <functional>
#include <thread>

namespace sg::store {

class store {
 public:
  /// Opens the database in `data_dir` (created if missing). Throws on failure.
  explicit store(const std::string& data_dir);
  ~store();
  store(const store&) = delete;
  store& operator=(const store&) = delete;

  /// Runs `fn` on the store thread. Exceptions are logged and swallowed. Thread-safe.
  void run(std::function<void(database&)> fn);
  /// Blocks until everything posted so far ran (start-up and shutdown only).
  void flush();
  /// Latency of the last write, in microseconds (for metrics).
  std::int64_t last_op_us() const { return last_op_us_.load(std::memory_order_relaxed); }
  /// Duration of every store operation (all of them write or read SQLite).
  const core::histogram& op_latency() const { return op_latency_; }

 private:
  database db_;
  boost::asio::io_context ioc_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::atomic<std::int64_t> last_op_us_{0};
  core::histogram op_latency_;
};

}  // namespace sg::store
