// A thread's name and the time slice it asks of the kernel, read back from the kernel.
#include "core/thread_class.hpp"

#include <gtest/gtest.h>

#include <sys/syscall.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

namespace sg::core {
namespace {

std::string comm_of_this_thread() {
  std::ifstream f("/proc/self/task/" + std::to_string(syscall(SYS_gettid)) + "/comm");
  std::string s;
  std::getline(f, s);
  return s;
}

TEST(ThreadClass, ANameShowsCutToWhatLinuxKeeps) {
  std::string short_name, long_name;
  std::thread t([&] {
    name_this_thread("sg-io-3");
    short_name = comm_of_this_thread();
    name_this_thread("sg-a-name-longer-than-fifteen");
    long_name = comm_of_this_thread();
  });
  t.join();
  EXPECT_EQ(short_name, "sg-io-3");
  EXPECT_EQ(long_name, "sg-a-name-longe");
}

// On its own thread, so the test process keeps its own slice.
TEST(ThreadClass, AnAskedSliceIsTheOneTheKernelKeepsAndZeroGivesTheDefaultBack) {
  std::chrono::microseconds before{}, asked{}, reset{};
  bool ok = false, ok_reset = false;
  std::thread t([&] {
    before = this_thread_time_slice();
    ok = ask_time_slice(std::chrono::microseconds(250));
    asked = this_thread_time_slice();
    ok_reset = ask_time_slice(std::chrono::microseconds(0));
    reset = this_thread_time_slice();
  });
  t.join();
  ASSERT_TRUE(ok) << "sched_setattr refused";
  EXPECT_TRUE(ok_reset);
  if (before.count() == 0) GTEST_SKIP() << "this kernel reports no time slice (Linux before 6.12)";
  EXPECT_EQ(asked, std::chrono::microseconds(250));
  EXPECT_EQ(reset, before) << "asking for 0 gives the kernel's default back";
  EXPECT_NE(before, asked);
}

}  // namespace
}  // namespace sg::core
