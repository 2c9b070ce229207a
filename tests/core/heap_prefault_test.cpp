// Faulting in the main heap's new pages ahead: read back with mincore which pages are in.
#include "core/heap_prefault.hpp"

#include <gtest/gtest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <thread>
#include <vector>

namespace sg::core {
namespace {

bool kernel_populates() {
  const std::size_t page = sysconf(_SC_PAGESIZE);
  void* m = mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return false;
  const bool ok = madvise(m, page, 23 /* MADV_POPULATE_WRITE */) == 0;
  munmap(m, page);
  return ok;
}

// Pages of [from, to) not in memory.
std::size_t pages_out(std::uintptr_t from, std::uintptr_t to) {
  const std::uintptr_t page = sysconf(_SC_PAGESIZE);
  from &= ~(page - 1);
  std::vector<unsigned char> in((to - from + page - 1) / page);
  if (mincore(reinterpret_cast<void*>(from), to - from, in.data()) != 0) return in.size();
  std::size_t out = 0;
  for (auto c : in) out += (c & 1) ? 0 : 1;
  return out;
}

TEST(HeapPrefault, FaultsInTheMainHeapUpToTheBreakOnce) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer's allocator does not use the program break";
#endif
  if (!kernel_populates()) GTEST_SKIP() << "the kernel has no MADV_POPULATE_WRITE (Linux 5.14)";
  // The test runs on the process's first thread, which allocates in the main heap. Allocate until the
  // break moves, so that the last block lies below fresh, never touched memory.
  std::vector<std::unique_ptr<char[]>> keep;
  const void* const start = sbrk(0);
  while (sbrk(0) == start) keep.emplace_back(new char[3000]);
  const char* last = keep.back().get();
  const auto last_end = reinterpret_cast<std::uintptr_t>(last) + 3000;
  const auto brk = reinterpret_cast<std::uintptr_t>(sbrk(0));
  ASSERT_GT(brk, last_end + 16 * 1024) << "glibc grows the break with room to spare (M_TOP_PAD)";
  ASSERT_GT(pages_out(last_end, brk), 0u) << "the room above the last block was never touched";

  const auto before = heap_prefaulted_bytes();
  prefault_heap_after(last, 3000);
  const auto faulted = heap_prefaulted_bytes() - before;
  EXPECT_GE(faulted, 16u * 1024);
  EXPECT_LE(faulted, brk - last_end + static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(pages_out(last_end, brk), 0u);

  // Nothing new below the break: the same call again, or a block reused from below, costs nothing.
  prefault_heap_after(last, 3000);
  prefault_heap_after(keep.front().get(), 3000);
  EXPECT_EQ(heap_prefaulted_bytes() - before, faulted);
}

TEST(HeapPrefault, AnObjectOutsideTheMainHeapIsLeftAlone) {
  const auto before = heap_prefaulted_bytes();
  std::thread([] {
    // Another thread's heap (glibc gives it an arena of its own, mapped apart from the break).
    std::vector<std::unique_ptr<char[]>> keep;
    for (int i = 0; i < 100; ++i) keep.emplace_back(new char[3000]);
    prefault_heap_after(keep.back().get(), 3000);
  }).join();
  auto stack_object = 0;
  prefault_heap_after(&stack_object, sizeof stack_object);
  EXPECT_EQ(heap_prefaulted_bytes(), before);
}

}  // namespace
}  // namespace sg::core
