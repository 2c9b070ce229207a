#include "core/thread_class.hpp"

#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace sg::core {
namespace {

// The kernel's struct sched_attr as of Linux 4.13 (glibc 2.36 has no wrapper for the calls).
struct sched_attr {
  std::uint32_t size;
  std::uint32_t sched_policy;
  std::uint64_t sched_flags;
  std::int32_t sched_nice;
  std::uint32_t sched_priority;
  std::uint64_t sched_runtime;  // for SCHED_OTHER and SCHED_BATCH: the custom slice (Linux 6.12+), ns
  std::uint64_t sched_deadline;
  std::uint64_t sched_period;
  std::uint32_t sched_util_min;
  std::uint32_t sched_util_max;
};

bool read_attr(sched_attr& a) {
  std::memset(&a, 0, sizeof a);
  return syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) == 0;
}

}  // namespace

void name_this_thread(std::string_view name) {
  char buf[16];
  auto n = std::min(name.size(), sizeof buf - 1);
  std::memcpy(buf, name.data(), n);
  buf[n] = '\0';
  pthread_setname_np(pthread_self(), buf);
}

bool ask_time_slice(std::chrono::microseconds slice) {
  sched_attr a;
  if (!read_attr(a)) return false;
  // Only the fair policies have a slice; a thread an operator made real-time stays as it is.
  if (a.sched_policy != SCHED_OTHER && a.sched_policy != SCHED_BATCH) {
    errno = EINVAL;
    return false;
  }
  a.size = sizeof a;
  a.sched_flags = 0;
  a.sched_runtime = static_cast<std::uint64_t>(slice.count()) * 1000u;  // nice and policy as read
  a.sched_util_min = a.sched_util_max = 0;
  return syscall(SYS_sched_setattr, 0, &a, 0) == 0;
}

std::chrono::microseconds this_thread_time_slice() {
  sched_attr a;
  if (!read_attr(a) || (a.sched_policy != SCHED_OTHER && a.sched_policy != SCHED_BATCH)) return {};
  return std::chrono::microseconds(a.sched_runtime / 1000u);
}

}  // namespace sg::core
