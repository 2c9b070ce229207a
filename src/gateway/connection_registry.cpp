// The registry's map is touched only under its lock; callers act on snapshots.
#include "gateway/connection_registry.hpp"

namespace sg::gateway {

void connection_registry::add(const std::string& id, const std::shared_ptr<connection_handle>& c) {
  {
    std::lock_guard lock(mu_);
    conns_[id] = c;
  }
  if (observer_) observer_->opened(c->identity());
}

void connection_registry::remove(const std::string& id) {
  std::size_t erased;
  {
    std::lock_guard lock(mu_);
    erased = conns_.erase(id);
  }
  if (erased && observer_) observer_->closed(id);
}

std::shared_ptr<connection_handle> connection_registry::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = conns_.find(id);
  return it == conns_.end() ? nullptr : it->second.lock();
}

std::vector<std::shared_ptr<connection_handle>> connection_registry::snapshot() const {
  std::vector<std::shared_ptr<connection_handle>> out;
  std::lock_guard lock(mu_);
  out.reserve(conns_.size());
  for (auto& [id, w] : conns_)
    if (auto c = w.lock()) out.push_back(std::move(c));
  return out;
}

std::vector<std::string> connection_registry::ids() const {
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (auto& [id, w] : conns_) out.push_back(id);
  return out;
}

std::size_t connection_registry::size() const {
  std::lock_guard lock(mu_);
  return conns_.size();
}

void sse_registry::add(const void* key, std::function<void()> end) {
  std::lock_guard lock(mu_);
  open_[key] = std::move(end);
}

void sse_registry::remove(const void* key) {
  std::lock_guard lock(mu_);
  open_.erase(key);
}

std::vector<std::function<void()>> sse_registry::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<std::function<void()>> out;
  out.reserve(open_.size());
  for (auto& [k, end] : open_) out.push_back(end);
  return out;
}

}  // namespace sg::gateway
