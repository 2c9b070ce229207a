// Buckets refill lazily on use; full, idle buckets are swept so the map stays small.
#include "core/rate_limit.hpp"

#include <algorithm>
#include <cmath>

namespace sg::core {

token_buckets::bucket& token_buckets::refill(const std::string& key, clock::time_point now) {
  // Housekeeping runs before the lookup: a sweep after it could erase the bucket this call returns.
  if (++ops_ % sweep_every == 0) sweep(now);
  auto [it, inserted] = buckets_.try_emplace(key, bucket{burst_, now});
  auto& b = it->second;
  if (!inserted) {
    double dt = std::chrono::duration<double>(now - b.at).count();
    if (dt > 0) {
      b.tokens = std::min(burst_, b.tokens + dt * rate_);
      b.at = now;
    }
  }
  return b;
}

void token_buckets::sweep(clock::time_point now) {
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    double dt = std::chrono::duration<double>(now - it->second.at).count();
    if (it->second.tokens + dt * rate_ >= burst_) it = buckets_.erase(it);
    else ++it;
  }
}

std::int64_t token_buckets::take(const std::string& key, double n, clock::time_point now) {
  if (rate_ <= 0) return 0;
  std::lock_guard lock(mu_);
  if (at_capacity(key, now)) return refusal_ms();
  auto& b = refill(key, now);
  if (b.tokens >= n) {
    b.tokens -= n;
    return 0;
  }
  return static_cast<std::int64_t>(std::ceil((n - b.tokens) / rate_ * 1000.0));
}

void token_buckets::charge(const std::string& key, double n, clock::time_point now) {
  if (rate_ <= 0) return;
  std::lock_guard lock(mu_);
  if (at_capacity(key, now)) return;
  refill(key, now).tokens -= n;
}

std::int64_t token_buckets::wait_ms(const std::string& key, clock::time_point now) {
  if (rate_ <= 0) return 0;
  std::lock_guard lock(mu_);
  if (at_capacity(key, now)) return refusal_ms();
  auto& b = refill(key, now);
  if (b.tokens >= 1) return 0;
  return static_cast<std::int64_t>(std::ceil((1 - b.tokens) / rate_ * 1000.0));
}

// The map is full of keys still in debt (a flood of distinct keys): a new key is refused rather than
// letting memory grow or evicting a bucket that would hand its owner a fresh burst.
// Sweeping is O(keys), so at capacity it runs at most once per max_keys/16 refusals (amortized O(16)).
bool token_buckets::at_capacity(const std::string& key, clock::time_point now) {
  if (buckets_.size() < max_keys_ || buckets_.find(key) != buckets_.end()) return false;
  // ... or when a bucket could have refilled since the last one (at most once per second).
  auto refill_time = std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(std::min(1.0, 1.0 / rate_)));
  if (ops_ - last_capacity_sweep_ >= std::max<std::uint64_t>(1, max_keys_ / 16) ||
      now - last_capacity_sweep_at_ >= refill_time) {
    last_capacity_sweep_ = ops_;
    last_capacity_sweep_at_ = now;
    sweep(now);
  }
  ++ops_;
  return buckets_.size() >= max_keys_;
}

std::int64_t token_buckets::refusal_ms() const {
  return static_cast<std::int64_t>(std::ceil(1000.0 / rate_));
}

std::size_t token_buckets::size() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

bool concurrency_limit::try_acquire(const std::string& key) {
  std::lock_guard lock(mu_);
  auto& c = counts_[key];
  if (limit_ && c >= limit_) {
    if (c == 0) counts_.erase(key);
    return false;
  }
  ++c;
  return true;
}

void concurrency_limit::release(const std::string& key) {
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  if (it == counts_.end()) return;
  if (--it->second == 0) counts_.erase(it);
}

unsigned concurrency_limit::count(const std::string& key) const {
  std::lock_guard lock(mu_);
  auto it = counts_.find(key);
  return it == counts_.end() ? 0 : it->second;
}

}  // namespace sg::core
