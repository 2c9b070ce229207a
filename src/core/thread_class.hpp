// How a thread of the process shows and is scheduled: its name, and the time slice it asks of the
// kernel.
#pragma once

#include <chrono>
#include <string_view>

namespace sg::core {

/// Names the calling thread, as `top -H`, `ps -L` and /proc/PID/task/TID/comm show it (Linux keeps
/// 15 bytes). The process's first thread keeps the program's name.
void name_this_thread(std::string_view name);

/// Asks the kernel to give the calling thread time slices of `slice` (Linux 6.12 and later, the
/// EEVDF scheduler's custom slice; 100 µs to 100 ms). A thread with a short slice that wakes on a
/// core where a thread with a longer one runs can take the core from it without waiting for the
/// running thread's slice (0.75–3 ms by default) to end; it still waits when it has had more than
/// its share of the core lately. Its share of the CPU is unchanged.
/// The policy and nice value stay as they are. Returns false (errno set) when the kernel refuses,
/// or when the thread has a real-time policy, which is left alone; an older
/// kernel accepts and ignores it (this_thread_time_slice() then reads zero).
bool ask_time_slice(std::chrono::microseconds slice);

/// The calling thread's time slice as the kernel reports it (Linux 6.12 and later: the one asked
/// for, or the default); zero where the kernel reports none.
std::chrono::microseconds this_thread_time_slice();

}  // namespace sg::core
