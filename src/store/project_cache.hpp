// What a stream reads before its upstream request, a project's owner and its cards, kept in memory
// from one write of either table to the next: a stream of a project whose cards did not change
// reads nothing, and its upstream request waits for no lock, no page and no SQLite work.
#pragma once

#include "store/database.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace sg::store {

/// A project's owner (none: there is no such project) and its cards, in their order.
struct project_cards {
  std::optional<std::string> owner;
  std::vector<card_row> cards;
};

/// Entries are valid while the store's project generation (store::project_generation) holds the
/// value it had before they were read. That generation is odd from the first write to a project or
/// card until its transaction commits or rolls back, and even otherwise: a read that overlapped a
/// write in any way is not kept. Every write to projects or cards drops every entry; such writes are
/// rare beside streams. Holds at most `max_bytes` (text and bookkeeping); an entry that does not fit
/// empties the cache first. Thread-safe.
class project_cache {
 public:
  project_cache(const std::atomic<std::uint64_t>& generation, std::size_t max_bytes)
      : gen_(generation), max_bytes_(max_bytes) {}

  /// The generation to hand to keep(): read it before the read begins.
  std::uint64_t generation() const { return gen_.load(std::memory_order_acquire); }
  /// What was kept for `project_id`, if nothing was written since; null otherwise.
  std::shared_ptr<const project_cards> find(const std::string& project_id);
  /// Keeps `p`, read for `project_id` by a read that began after generation() returned `read_at`,
  /// unless a write began or ended since.
  void keep(std::uint64_t read_at, const std::string& project_id, std::shared_ptr<const project_cards> p);

  std::uint64_t hits() const { return hits_.load(std::memory_order_relaxed); }
  std::size_t bytes() const;
  std::size_t size() const;
  /// What an entry is counted as against max_bytes.
  static std::size_t cost(const std::string& project_id, const project_cards& p);

 private:
  void drop_all_locked(std::uint64_t gen);

  const std::atomic<std::uint64_t>& gen_;
  const std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::uint64_t held_at_ = 0;  // the generation the entries were read at
  std::unordered_map<std::string, std::shared_ptr<const project_cards>> entries_;
  std::size_t bytes_ = 0;
  std::atomic<std::uint64_t> hits_{0};
};

}  // namespace sg::store
