// Faulting in the main heap's new pages in one call, before malloc hands them out one at a time.
#pragma once

#include <cstddef>

namespace sg::core {

/// `recent` is an object of `size` bytes that the calling thread has just allocated and keeps (a
/// connection's session). When it lies in the main heap (the one that grows with the program break,
/// glibc's main arena: the process's first thread allocates there), the pages above it up to the
/// program break that were not faulted in yet are, in one call (`madvise(MADV_POPULATE_WRITE)`,
/// Linux 5.14 and later), once there are 16 KiB of them, and at most 256 KiB at a time; the
/// allocations that follow find their memory mapped. Pages below the object are never touched: a
/// large block handed out and not yet written stays unfaulted. Where a fault is expensive, as in a
/// virtual machine, one call for many pages costs a fraction of a fault per page. An object elsewhere
/// (another thread's heap, which glibc maps a page at a time as it grows, with nothing above it to
/// fault in) costs a comparison. Never fails: a kernel without the call is left alone.
void prefault_heap_after(const void* recent, std::size_t size) noexcept;

/// Bytes faulted in ahead by prefault_heap_after, all threads, so far.
std::size_t heap_prefaulted_bytes() noexcept;

}  // namespace sg::core
