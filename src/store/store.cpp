// The store thread: runs posted database work in order.
#include "store/store.hpp"

#include "core/log.hpp"

#include <chrono>
#include <filesystem>
#include <future>

namespace sg::store {
namespace {
std::string db_path(const std::string& dir) {
  std::filesystem::create_directories(dir);
  return (std::filesystem::path(dir) / "streamgate.db").string();
}
}  // namespace

store::store(const std::string& data_dir)
    : db_(db_path(data_dir)), work_(ioc_.get_executor()), thread_([this] { ioc_.run(); }) {}

store::~store() {
  work_.reset();
  thread_.join();
}

void store::run(std::function<void(database&)> fn) {
  boost::asio::post(ioc_, [this, fn = std::move(fn)] {
    auto t0 = std::chrono::steady_clock::now();
    try {
      fn(db_);
    } catch (const std::exception& e) {
      core::log_error("store operation failed", {{"error", e.what()}});
    }
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();
    last_op_us_.store(us, std::memory_order_relaxed);
    op_latency_.observe_ms(static_cast<double>(us) / 1000.0);
  });
}

void store::flush() {
  std::promise<void> done;
  auto f = done.get_future();
  boost::asio::post(ioc_, [&done] { done.set_value(); });
  f.wait();
}

}  // namespace sg::store
