#include "core/heap_prefault.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

namespace sg::core {
namespace {

constexpr std::uintptr_t worth_a_call = 16 * 1024;
// At most this much per call, from the object up: a large block malloc has handed out above it and
// nothing has written yet stays unfaulted beyond it.
constexpr std::uintptr_t window = 256 * 1024;
// How far below the break "the main heap" reaches.
constexpr std::uintptr_t main_heap_span = std::uintptr_t{1} << 32;

std::atomic<bool> unsupported{false};
std::atomic<std::uintptr_t> faulted_until{0};  // the end of what was faulted in ahead (or tried)
std::atomic<std::size_t> faulted_bytes{0};

}  // namespace

void prefault_heap_after(const void* recent, std::size_t size) noexcept {
  if (unsupported.load(std::memory_order_relaxed)) return;
  static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto at = reinterpret_cast<std::uintptr_t>(recent);
  const auto brk = reinterpret_cast<std::uintptr_t>(sbrk(0));  // glibc's cached break: no system call
  if (at >= brk || brk - at > main_heap_span) return;          // not in the main heap
  const std::uintptr_t end = (at + size + page - 1) & ~(page - 1);
  std::uintptr_t from = faulted_until.load(std::memory_order_relaxed);
  if (from > brk) from = 0;  // the heap was trimmed below what was faulted in
  if (from < end) from = end;
  if (brk < from + worth_a_call) return;
  const std::uintptr_t to = brk - from > window ? from + window : brk;
  // Only the first thread allocates in the main heap as a rule; a race between two callers would
  // fault in the same pages twice, which is harmless.
  faulted_until.store(to, std::memory_order_relaxed);
  if (madvise(reinterpret_cast<void*>(from), to - from, MADV_POPULATE_WRITE) == 0) {
    faulted_bytes.fetch_add(to - from, std::memory_order_relaxed);
  } else if (errno == EINVAL) {
    unsupported.store(true, std::memory_order_relaxed);  // a kernel before 5.14
  }
}

std::size_t heap_prefaulted_bytes() noexcept { return faulted_bytes.load(std::memory_order_relaxed); }

}  // namespace sg::core
