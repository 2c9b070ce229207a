// Token buckets and concurrency counters keyed by user or source address.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <unordered_map>

namespace sg::core {

/// Token buckets, one per key, refilled at `rate` per second up to `burst`. Thread-safe.
class token_buckets {
 public:
  using clock = std::chrono::steady_clock;
  /// `max_keys` bounds the memory: past it, keys not yet tracked are refused until old ones refill.
  token_buckets(double rate_per_second, double burst, std::size_t max_keys = default_max_keys)
      : rate_(rate_per_second), burst_(burst), max_keys_(max_keys) {}
  static constexpr std::size_t default_max_keys = 1'000'000;
  /// Full buckets are dropped every this many operations.
  static constexpr std::uint64_t sweep_every = 4096;

  /// Takes `n` tokens; returns 0 when granted, else the milliseconds until they would be.
  /// A rate of 0 means unlimited.
  std::int64_t take(const std::string& key, double n = 1, clock::time_point now = clock::now());
  /// Charges `n` tokens after the fact (the balance may go negative, delaying the next take).
  void charge(const std::string& key, double n, clock::time_point now = clock::now());
  /// Milliseconds until at least one token is available (0 = now).
  std::int64_t wait_ms(const std::string& key, clock::time_point now = clock::now());
  bool enabled() const { return rate_ > 0; }
  std::size_t size() const;

 private:
  struct bucket {
    double tokens;
    clock::time_point at;
  };
  bucket& refill(const std::string& key, clock::time_point now);
  void sweep(clock::time_point now);
  bool at_capacity(const std::string& key, clock::time_point now);
  std::int64_t refusal_ms() const;

  double rate_, burst_;
  std::size_t max_keys_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, bucket> buckets_;
  std::uint64_t ops_ = 0;
  std::uint64_t last_capacity_sweep_ = 0;
  clock::time_point last_capacity_sweep_at_{};
};

/// Counts concurrent holders per key against a limit. Thread-safe.
class concurrency_limit {
 public:
  explicit concurrency_limit(unsigned limit) : limit_(limit) {}
  /// Takes a slot; false when `key` already holds `limit` (a limit of 0 means unlimited).
  bool try_acquire(const std::string& key);
  void release(const std::string& key);
  unsigned count(const std::string& key) const;

 private:
  unsigned limit_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, unsigned> counts_;
};

}  // namespace sg::core
