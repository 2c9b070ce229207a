// The offline default provider: the title generator streamed at a pace set against absolute time.
#pragma once

#include "provider/provider.hpp"

namespace sg::provider::demo {

class demo_provider final : public provider {
 public:
  /// `tokens_per_second` <= 0 streams every token at once after the first-token delay.
  demo_provider(double ttft_ms, double tokens_per_second) : ttft_ms_(ttft_ms), tps_(tokens_per_second) {}
  std::string name() const override { return "demo"; }
  void start(std::shared_ptr<const request> req, std::shared_ptr<sink> out, net::any_io_executor ex,
             std::shared_ptr<cancellation> cancel) override;

 private:
  double ttft_ms_;
  double tps_;
};

}  // namespace sg::provider::demo
