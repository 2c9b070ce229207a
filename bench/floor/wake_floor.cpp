// The floor of a paced event loop's wake-up: one thread on one core sleeps in epoll_wait on a timerfd
// that fires every --period-us (1,000: the pacer's tick) and does nothing else; its CPU per wake-up
// is what every tick costs a server before any work. --rearm re-arms a one-shot timer at each wake-up,
// as Asio's reactor does for its timer queue.
//
//   wake_floor [--period-us 1000] [--seconds 5] [--cpu 0] [--rearm] [--json]
#include "probe.hpp"

#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>

namespace {

double cpu_us_self() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec;
}

}  // namespace

int main(int argc, char** argv) {
  long period_us = 1000;
  double seconds = 5;
  int cpu = 0;
  bool rearm = false, json = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&] {
      if (i + 1 >= argc) probe::die(("missing value for " + a).c_str());
      return std::string(argv[++i]);
    };
    if (a == "--period-us") period_us = std::stol(next());
    else if (a == "--seconds") seconds = std::stod(next());
    else if (a == "--cpu") cpu = std::stoi(next());
    else if (a == "--rearm") rearm = true;
    else if (a == "--json") json = true;
    else probe::die(("unknown option " + a).c_str());
  }
  if (period_us <= 0 || period_us >= 1'000'000) probe::die("--period-us must be 1..999999");
  probe::pin(cpu);
  int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
  if (tfd < 0) probe::die("timerfd_create");
  itimerspec its{};
  its.it_value.tv_nsec = period_us * 1000;
  if (!rearm) its.it_interval.tv_nsec = period_us * 1000;
  if (timerfd_settime(tfd, 0, &its, nullptr) != 0) probe::die("timerfd_settime");
  int ep = epoll_create1(0);
  epoll_event ev{};
  ev.events = EPOLLIN;
  if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev) != 0) probe::die("epoll");
  const double cpu0 = cpu_us_self();
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration<double>(seconds);
  std::uint64_t wakes = 0;
  while (std::chrono::steady_clock::now() < end) {
    epoll_event out{};
    if (epoll_wait(ep, &out, 1, -1) <= 0) continue;
    std::uint64_t fired;
    if (read(tfd, &fired, sizeof fired) == sizeof fired) ++wakes;
    if (rearm) timerfd_settime(tfd, 0, &its, nullptr);
  }
  const double cpu_us = cpu_us_self() - cpu0;
  const double wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double per_wake = wakes ? cpu_us / static_cast<double>(wakes) : 0;
  if (json)
    std::printf("{\"period_us\":%ld,\"rearm\":%s,\"wakes\":%llu,\"cpu_us_per_wake\":%.2f,\"core_share\":%.4f}\n",
                period_us, rearm ? "true" : "false", static_cast<unsigned long long>(wakes), per_wake,
                cpu_us / (wall_s * 1e6));
  else
    std::printf("period %ld us%s: %llu wake-ups in %.1f s, %.1f us of CPU each, %.2f%% of a core\n", period_us,
                rearm ? " (re-armed)" : "", static_cast<unsigned long long>(wakes), wall_s, per_wake,
                100 * cpu_us / (wall_s * 1e6));
  return 0;
}
