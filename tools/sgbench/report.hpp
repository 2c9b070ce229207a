// A run's results, as JSON for scripts and as a markdown table for people.
#pragma once

#include "options.hpp"
#include "proc.hpp"
#include "worker.hpp"

#include <string>
#include <vector>

namespace sg::tools {

struct burst_round {
  std::uint64_t dropped = 0, reconnected = 0, resumed = 0;
  double seconds = 0;        // drop to the last client ready again
  double server_cpu_s = 0;   // server CPU over the round's reconnects
};

struct bench_report {
  const bench_options* opt = nullptr;
  bench_stats stats;
  std::uint64_t connected = 0, still_open = 0;
  double connect_s = 0, connect_server_cpu_s = 0;
  double window_s = 0, server_window_cpu_s = 0, window_client_cpu_s = 0, client_cpu_s = 0;
  double server_window_user_s = 0, server_window_sys_s = 0;
  proc_sample server_before, server_after;
  std::vector<burst_round> rounds;
  bool timed_out = false;

  std::string json() const;
  std::string markdown() const;
};

}  // namespace sg::tools
