// Counts of upstream requests and of their errors, by provider and error code, for /metrics.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace sg::stream {

/// Upstream requests and errors by provider and error code. Thread-safe.
class upstream_counters {
 public:
  void request(const std::string& provider);
  void error(const std::string& provider, std::string_view code);
  /// (provider, count) and (provider, code, count) snapshots.
  std::vector<std::pair<std::string, std::uint64_t>> requests() const;
  std::vector<std::tuple<std::string, std::string, std::uint64_t>> errors() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> requests_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> errors_;
};

}  // namespace sg::stream
