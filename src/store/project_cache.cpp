#include "store/project_cache.hpp"

namespace sg::store {

std::size_t project_cache::cost(const std::string& project_id, const project_cards& p) {
  constexpr std::size_t entry_overhead = 128, card_overhead = sizeof(card_row);
  std::size_t n = entry_overhead + project_id.size() + (p.owner ? p.owner->size() : 0);
  for (auto& c : p.cards) n += card_overhead + c.id.size() + c.project_id.size() + c.kind.size() + c.content.size();
  return n;
}

void project_cache::drop_all_locked(std::uint64_t gen) {
  entries_.clear();
  bytes_ = 0;
  held_at_ = gen;
}

std::shared_ptr<const project_cards> project_cache::find(const std::string& project_id) {
  auto gen = generation();
  if (gen & 1) return nullptr;  // a write is under way
  std::lock_guard lock(mu_);
  if (held_at_ != gen) {
    drop_all_locked(gen);
    return nullptr;
  }
  auto it = entries_.find(project_id);
  if (it == entries_.end()) return nullptr;
  hits_.fetch_add(1, std::memory_order_relaxed);
  return it->second;
}

void project_cache::keep(std::uint64_t read_at, const std::string& project_id, std::shared_ptr<const project_cards> p) {
  if (read_at & 1) return;
  auto size = cost(project_id, *p);
  if (size > max_bytes_) return;
  std::lock_guard lock(mu_);
  if (generation() != read_at) return;  // a write began or ended during the read
  if (held_at_ != read_at) drop_all_locked(read_at);
  auto [it, added] = entries_.try_emplace(project_id);
  if (!added) bytes_ -= cost(project_id, *it->second);
  if (bytes_ + size > max_bytes_) {
    drop_all_locked(read_at);
    it = entries_.try_emplace(project_id).first;
  }
  it->second = std::move(p);
  bytes_ += size;
}

std::size_t project_cache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

std::size_t project_cache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace sg::store
