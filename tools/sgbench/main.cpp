// sgbench: drives the run's phases (connect, streams, window, drops) across workers and reports.
#include "options.hpp"
#include "proc.hpp"
#include "report.hpp"
#include "ttft.hpp"
#include "worker.hpp"

#include "core/clock.hpp"

#include <sys/resource.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <string_view>
#include <thread>

namespace sg::tools {
namespace {

using namespace std::chrono_literals;

class coordinator {
 public:
  explicit coordinator(const bench_options& o) : opt_(o) {
    for (unsigned i = 0; i < o.threads; ++i) workers_.push_back(std::make_unique<worker>(opt_, ctl_, i, o.threads));
    double ramp = 0;
    if (o.connect_rate > 0) ramp += o.connections / o.connect_rate;
    if (o.stream_rate > 0) ramp += o.connections / o.stream_rate;
    double body = o.warmup_s + o.duration_s;
    if (o.mode == bench_mode::burst) body = (o.burst_after_s + 10) * (o.rounds + 1);
    max_time_s_ = o.max_time_s > 0 ? o.max_time_s : ramp + body + 30;
    start_us_ = core::now_us();
  }

  int run() {
    rep_.opt = &opt_;
    rep_.server_before = sample_proc(opt_.server_pid);
    for (auto& w : workers_) w->start();
    if (opt_.mode == bench_mode::burst) ctl_.lateness = false;

    // Phase 1: connections, measured from the first connect to the last one ready.
    note("connecting " + std::to_string(opt_.connections));
    auto cpu0 = sample_proc(opt_.server_pid);
    for (auto& w : workers_) w->begin_connect();
    wait_until([&] { return sum(&worker::settled_) >= opt_.connections; }, max_time_s_);
    auto cpu1 = sample_proc(opt_.server_pid);
    rep_.connected = sum(&worker::open_);
    std::int64_t first = INT64_MAX, last = 0;
    for (auto& w : workers_) {
      auto f = w->first_connect_us_.load();
      if (f) first = std::min(first, f);
      last = std::max(last, w->last_open_us_.load());
    }
    rep_.connect_s = last > first ? static_cast<double>(last - first) / 1e6 : 0;
    rep_.connect_server_cpu_s = cpu1.cpu_s - cpu0.cpu_s;
    note("connected " + std::to_string(rep_.connected) + " in " + std::to_string(rep_.connect_s) + " s");

    switch (opt_.mode) {
      case bench_mode::idle: run_idle(); break;
      case bench_mode::stream:
      case bench_mode::slow: run_stream(); break;
      case bench_mode::burst: run_burst(); break;
    }

    for (auto& w : workers_) w->close_all();
    std::this_thread::sleep_for(50ms);
    for (auto& w : workers_) {
      w->join();
      rep_.stats.merge(w->stats_);
    }
    rep_.timed_out = timed_out_;
    rep_.client_cpu_s = self_cpu_s();
    if (!opt_.json_path.empty()) {
      auto j = rep_.json();
      if (opt_.json_path == "-") std::cout << j << "\n";
      else if (FILE* f = std::fopen(opt_.json_path.c_str(), "w")) {
        std::fputs(j.c_str(), f);
        std::fputs("\n", f);
        std::fclose(f);
      } else {
        std::cerr << "sgbench: cannot write " << opt_.json_path << "\n";
        return 1;
      }
    }
    if (opt_.markdown) std::cout << rep_.markdown() << std::flush;
    if (rep_.connected == 0) return 1;
    if (opt_.fail_on_error && (rep_.stats.errors() > 0 || timed_out_)) return 3;
    return 0;
  }

 private:
  void run_idle() {
    // Let the server finish its per-connection work (store writes, logs) before sampling memory.
    wait_for(std::min(opt_.duration_s, 1.0));
    auto mid = sample_proc(opt_.server_pid);
    wait_for(std::max(0.0, opt_.duration_s - 1.0));
    auto end = sample_proc(opt_.server_pid);
    rep_.window_s = opt_.duration_s;
    rep_.server_window_cpu_s = end.cpu_s - mid.cpu_s;
    rep_.server_after = end;
    rep_.still_open = sum(&worker::open_);
  }

  void run_stream() {
    note("starting streams");
    for (auto& w : workers_) w->begin_streams();
    wait_until([&] { return sum(&worker::started_) >= rep_.connected; }, remaining());
    wait_for(opt_.warmup_s);
    auto s0 = sample_proc(opt_.server_pid);
    double c0 = self_cpu_s();
    auto t0 = core::now_us();
    ctl_.recording = true;
    note("measuring for " + std::to_string(opt_.duration_s) + " s");
    wait_for(opt_.duration_s);
    ctl_.recording = false;
    auto t1 = core::now_us();
    auto s1 = sample_proc(opt_.server_pid);
    rep_.window_client_cpu_s = self_cpu_s() - c0;
    rep_.window_s = static_cast<double>(t1 - t0) / 1e6;
    rep_.server_window_cpu_s = s1.cpu_s - s0.cpu_s;
    rep_.server_window_user_s = s1.user_s - s0.user_s;
    rep_.server_window_sys_s = s1.sys_s - s0.sys_s;
    rep_.server_after = s1;
    rep_.still_open = sum(&worker::open_);
  }

  void run_burst() {
    note("starting streams");
    for (auto& w : workers_) w->begin_streams();
    wait_until([&] { return sum(&worker::started_) >= rep_.connected; }, remaining());
    ctl_.recording = true;
    auto t0 = core::now_us();
    for (unsigned r = 0; r < opt_.rounds && !timed_out_; ++r) {
      wait_for(opt_.burst_after_s);
      auto s0 = sample_proc(opt_.server_pid);
      auto d0 = core::now_us();
      for (auto& w : workers_) w->drop_and_reconnect();
      // Wait until every dropped client is back (or failed) and every stream is resumed.
      std::this_thread::sleep_for(1ms);
      wait_until([&] {
        return sum(&worker::settled_) >= sum(&worker::dropped_) && sum(&worker::resumed_) >= sum(&worker::to_resume_);
      }, remaining());
      std::int64_t last = 0;
      for (auto& w : workers_) last = std::max(last, w->last_open_us_.load());
      auto s1 = sample_proc(opt_.server_pid);
      burst_round br;
      br.dropped = sum(&worker::dropped_);
      br.reconnected = sum(&worker::open_);
      br.resumed = sum(&worker::resumed_);
      br.seconds = static_cast<double>(std::max<std::int64_t>(last - d0, 1)) / 1e6;
      br.server_cpu_s = s1.cpu_s - s0.cpu_s;
      rep_.rounds.push_back(br);
      note("round " + std::to_string(r + 1) + ": " + std::to_string(br.reconnected) + " back in " +
           std::to_string(br.seconds) + " s");
    }
    ctl_.recording = false;
    rep_.window_s = static_cast<double>(core::now_us() - t0) / 1e6;
    rep_.server_after = sample_proc(opt_.server_pid);
    rep_.still_open = sum(&worker::open_);
  }

  std::uint64_t sum(std::atomic<std::uint64_t> worker::*m) const {
    std::uint64_t s = 0;
    for (auto& w : workers_) s += ((*w).*m).load(std::memory_order_relaxed);
    return s;
  }

  double remaining() const { return max_time_s_ - static_cast<double>(core::now_us() - start_us_) / 1e6; }

  void wait_for(double seconds) {
    auto until = core::now_us() + static_cast<std::int64_t>(std::min(seconds, std::max(0.0, remaining())) * 1e6);
    while (core::now_us() < until) std::this_thread::sleep_for(5ms);
    if (remaining() <= 0) timed_out_ = true;
  }

  void wait_until(const std::function<bool()>& done, double seconds) {
    auto until = core::now_us() + static_cast<std::int64_t>(std::max(0.0, seconds) * 1e6);
    while (!done()) {
      if (core::now_us() >= until) {
        timed_out_ = true;
        note("timed out waiting");
        return;
      }
      std::this_thread::sleep_for(2ms);
    }
  }

  void note(const std::string& s) const {
    if (!opt_.quiet) std::cerr << "sgbench: " << s << "\n";
  }

  const bench_options& opt_;
  bench_control ctl_;
  std::vector<std::unique_ptr<worker>> workers_;
  bench_report rep_;
  double max_time_s_ = 0;
  std::int64_t start_us_ = 0;
  bool timed_out_ = false;
};

}  // namespace
}  // namespace sg::tools

int main(int argc, char** argv) {
  using namespace sg::tools;
  if (argc > 1 && std::string_view(argv[1]) == "ttft") {
    try {
      return run_ttft(argc, argv);
    } catch (const std::exception& e) {
      std::cerr << "sgbench ttft: " << e.what() << "\n";
      return 1;
    }
  }
  bench_options opt;
  try {
    bool help = false;
    opt = parse_bench_options(argc, argv, help);
    if (help) {
      std::cout << bench_usage();
      return 0;
    }
  } catch (const std::exception& e) {
    std::cerr << "sgbench: " << e.what() << "\n";
    return 2;
  }
  // Each connection is a descriptor: take the soft limit up to the hard one before opening them.
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && opt.connections + 64 > rl.rlim_cur) {
    std::cerr << "sgbench: " << opt.connections << " connections need more descriptors than the limit ("
              << rl.rlim_cur << "); run several sgbench processes\n";
    return 2;
  }
  try {
    coordinator c(opt);
    return c.run();
  } catch (const std::exception& e) {
    std::cerr << "sgbench: " << e.what() << "\n";
    return 1;
  }
}
