// A log-linear histogram (about 1.6% precision) for latencies in microseconds; merges and reports percentiles.
#pragma once

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <vector>

namespace sg::tools {

class histogram {
 public:
  // 64 sub-buckets per power of two keep every reported value within 1/64 of the true one,
  // in a fixed 30 KB array: a run of millions of samples costs no allocation per sample.
  static constexpr int sub_bits = 6;
  static constexpr std::uint64_t sub = std::uint64_t{1} << sub_bits;

  histogram() : counts_((64 - sub_bits + 1) * sub, 0) {}

  void record(std::int64_t v) {
    if (v < 0) {
      ++negative_;  // a sample before its due time: clock granularity, counted and clamped to 0
      v = 0;
    }
    auto u = static_cast<std::uint64_t>(v);
    ++counts_[index(u)];
    ++count_;
    sum_ += static_cast<double>(u);
    max_ = std::max(max_, u);
  }

  void merge(const histogram& o) {
    for (std::size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
    count_ += o.count_;
    negative_ += o.negative_;
    sum_ += o.sum_;
    max_ = std::max(max_, o.max_);
  }

  std::uint64_t count() const { return count_; }
  std::uint64_t negative() const { return negative_; }
  std::uint64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

  /// The value at percentile `p` (0–100): the highest value its bucket can hold, capped at max().
  std::uint64_t percentile(double p) const {
    if (count_ == 0) return 0;
    auto rank = static_cast<std::uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_)));
    rank = std::clamp<std::uint64_t>(rank, 1, count_);
    std::uint64_t seen = 0;
    for (std::size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) return std::min(upper(i), max_);
    }
    return max_;
  }

  static std::size_t index(std::uint64_t v) {
    if (v < 2 * sub) return static_cast<std::size_t>(v);
    int e = 63 - std::countl_zero(v) - sub_bits;  // >= 1
    return static_cast<std::size_t>((static_cast<std::uint64_t>(e) + 1) * sub + ((v >> e) - sub));
  }
  static std::uint64_t upper(std::size_t i) {
    if (i < 2 * sub) return i;
    std::uint64_t e = i / sub - 1, m = i % sub + sub;
    return ((m + 1) << e) - 1;
  }

 private:
  std::vector<std::uint64_t> counts_;
  std::uint64_t count_ = 0;
  std::uint64_t negative_ = 0;
  double sum_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace sg::tools
