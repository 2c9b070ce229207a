#include "net/late_writes.hpp"

namespace sg::io {

late_writes::late_writes(net::io_context& ioc) : net::execution_context::service(ioc), ioc_(ioc) {}

late_writes::~late_writes() = default;

void late_writes::add(std::function<void()> flush) {
  if (stopped_) return;
  waiting_.push_back(std::move(flush));
  if (posted_) return;
  posted_ = true;
  net::post(ioc_, [this] { run(); });
}

void late_writes::run() {
  posted_ = false;
  if (stopped_) return;
  running_.swap(waiting_);
  for (auto& flush : running_) flush();
  running_.clear();  // the connections are let go; the storage is kept for the next run
}

void late_writes::shutdown() {
  // The connections the flushes hold are let go before the io_context destroys its handlers.
  stopped_ = true;
  waiting_.clear();
  running_.clear();
}

}  // namespace sg::io
