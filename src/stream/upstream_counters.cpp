// Upstream request and error counts, behind one mutex: they change once per request, not per token.
#include "stream/upstream_counters.hpp"

namespace sg::stream {

void upstream_counters::request(const std::string& provider) {
  std::lock_guard lock(mu_);
  ++requests_[provider];
}

void upstream_counters::error(const std::string& provider, std::string_view code) {
  std::lock_guard lock(mu_);
  ++errors_[{provider, std::string(code)}];
}

std::vector<std::pair<std::string, std::uint64_t>> upstream_counters::requests() const {
  std::lock_guard lock(mu_);
  return {requests_.begin(), requests_.end()};
}

std::vector<std::tuple<std::string, std::string, std::uint64_t>> upstream_counters::errors() const {
  std::lock_guard lock(mu_);
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> out;
  for (auto& [k, n] : errors_) out.emplace_back(k.first, k.second, n);
  return out;
}

}  // namespace sg::stream
