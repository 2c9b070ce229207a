// The Prometheus text exposition of the server's counters.
#pragma once

#include "gateway/app.hpp"

#include <string>

namespace sg::gateway {

/// Renders /metrics (text format 0.0.4). Thread-safe.
std::string render_metrics(app& a);

}  // namespace sg::gateway
