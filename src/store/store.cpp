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
  thread_ = std::thread([this] { ioc_.run(); });
}

store::~store() {
  work_.reset();
  thread_.join();
}

void store::run(std::function<void(database&)> fn) {
  // The failure was already logged and counted by failed(); nobody waits on this work.
  exec(std::move(fn), [](result<void>) {});
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
