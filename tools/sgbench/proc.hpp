// Reads a process's CPU time and resident memory from /proc, for the server under test and for sgbench itself.
#pragma once

#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

namespace sg::tools {

struct proc_sample {
  bool ok = false;
  double cpu_s = 0;        // user + system, all threads
  double user_s = 0;       // user space: the server's own code
  double sys_s = 0;        // kernel: system calls (send, epoll), on the process's behalf
  std::int64_t rss_kib = 0;
  std::int64_t hwm_kib = 0;  // peak RSS
};

/// One sample of /proc/<pid>; ok is false when the process is gone or unreadable.
inline proc_sample sample_proc(int pid) {
  proc_sample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  // The command name (field 2) may hold spaces: fields are counted after its closing paren.
  auto rp = line.rfind(')');
  if (rp == std::string::npos) return s;
  std::istringstream in(line.substr(rp + 2));
  std::string f;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> f; ++i) {
    if (i == 14) utime = std::stoull(f);
    if (i == 15) stime = std::stoull(f);
  }
  static const long ticks = sysconf(_SC_CLK_TCK);
  s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(ticks);
  s.user_s = static_cast<double>(utime) / static_cast<double>(ticks);
  s.sys_s = static_cast<double>(stime) / static_cast<double>(ticks);
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kib = std::stoll(line.substr(6));
    if (line.rfind("VmHWM:", 0) == 0) s.hwm_kib = std::stoll(line.substr(6));
  }
  s.ok = true;
  return s;
}

/// This process's CPU time in seconds (all threads).
inline double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

}  // namespace sg::tools
