// Cancellation hand-off between a stream and its provider.
#include "provider/provider.hpp"

namespace sg::provider {

void cancellation::on_cancel(std::function<void()> fn) {
  std::unique_lock lock(mu_);
  if (cancelled_) {
    lock.unlock();
    if (fn) fn();
    return;
  }
  fn_ = std::move(fn);
}

void cancellation::cancel() {
  std::function<void()> fn;
  {
    std::lock_guard lock(mu_);
    if (cancelled_) return;
    cancelled_ = true;
    fn.swap(fn_);
  }
  if (fn) fn();
}

bool cancellation::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

}  // namespace sg::provider
