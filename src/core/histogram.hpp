// A fixed-bucket histogram with atomic counters, rendered in the Prometheus text format.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <sstream>
#include <string>

namespace sg::core {

/// Buckets in milliseconds, from 0.1 ms to 60 s. Lock-free and thread-safe.
class histogram {
 public:
  static constexpr std::array<double, 18> bounds_ms = {0.1, 0.25, 0.5, 1,    2.5,  5,     10,    25,    50,
                                                       100, 250,  500, 1000, 2500, 5000, 10000, 30000, 60000};

  void observe_ms(double ms) {
    std::size_t i = 0;
    while (i < bounds_ms.size() && ms > bounds_ms[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(static_cast<std::int64_t>(ms * 1000.0), std::memory_order_relaxed);
  }
  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }

  /// Appends the HELP/TYPE header and the _bucket, _sum and _count lines, in seconds.
  void render(std::ostringstream& o, const char* name, const char* help, const std::string& labels = {}) const {
    o << "# HELP " << name << ' ' << help << "\n# TYPE " << name << " histogram\n";
    render_series(o, name, labels);
  }
  /// The series alone, for a second label set under the same header.
  void render_series(std::ostringstream& o, const char* name, const std::string& labels) const {
    std::uint64_t cumulative = 0;
    std::string sep = labels.empty() ? "" : labels + ",";
    for (std::size_t i = 0; i <= bounds_ms.size(); ++i) {
      cumulative += counts_[i].load(std::memory_order_relaxed);
      o << name << "_bucket{" << sep << "le=\"";
      if (i == bounds_ms.size()) o << "+Inf";
      else o << bounds_ms[i] / 1000.0;
      o << "\"} " << cumulative << '\n';
    }
    std::string l = labels.empty() ? "" : "{" + labels + "}";
    o << name << "_sum" << l << ' ' << static_cast<double>(sum_us_.load(std::memory_order_relaxed)) / 1e6 << '\n';
    o << name << "_count" << l << ' ' << cumulative << '\n';
  }

 private:
  std::array<std::atomic<std::uint64_t>, bounds_ms.size() + 1> counts_{};
  std::atomic<std::int64_t> sum_us_{0};
};

}  // namespace sg::core
