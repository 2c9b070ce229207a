// The stream manager's checkpoints of running answers: one at most waits for the store.
#include "stream/stream_manager.hpp"

#include "core/config.hpp"
#include "provider/demo/demo_provider.hpp"
#include "store/store.hpp"
#include "support/temp_dir.hpp"

#include <gtest/gtest.h>

#include <future>
#include <string>

namespace sg::stream {
namespace {

using sg::test::temp_dir;

// Holds the store's thread from the moment it is built until release() (or the end of the scope).
class held_store {
 public:
  explicit held_store(store::store& st) {
    std::promise<void> holding;
    auto held = holding.get_future();
    st.exec(
        [gate = gate_.get_future().share(), &holding](store::database&) {
          holding.set_value();
          gate.wait();
          return 0;
        },
        [](store::result<int>) {});
    held.wait();
  }
  ~held_store() { release(); }
  void release() {
    if (!released_) gate_.set_value();
    released_ = true;
  }

 private:
  std::promise<void> gate_;
  bool released_ = false;
};

TEST(StreamManager, OneCheckpointAtMostWaitsForTheStore) {
  temp_dir dir;
  store::store st(dir.path.string());
  net::io_context ioc;  // never run: the streams stay at their start, running and recorded
  core::config cfg;
  stream_manager m(ioc, cfg, st, {{"demo", std::make_shared<provider::demo::demo_provider>(200, 20)}});
  constexpr int streams = 1000;
  for (int i = 0; i < streams; ++i) {
    proto::stream_request req;
    req.user_input = "question " + std::to_string(i);
    auto who = "user-" + std::to_string(i);
    auto started = m.start(std::move(req), who, who, ioc.get_executor());
    ASSERT_TRUE(started.s) << i;
  }
  ASSERT_EQ(m.running(), static_cast<std::size_t>(streams));

  // A store far slower than a checkpoint a second: 100,000 of them (a day's) while it is held.
  held_store hold(st);
  for (int i = 0; i < 100000; ++i) m.checkpoint();
  EXPECT_EQ(m.checkpoints(), 1u) << "one checkpoint handed over";
  EXPECT_EQ(m.checkpoints_skipped(), 99999u) << "the rest skipped while it waited";

  // Once the store has taken it, the next is handed over, and only one again.
  hold.release();
  st.flush();
  for (int i = 0; i < 10; ++i) m.checkpoint();
  EXPECT_EQ(m.checkpoints(), 2u);
  EXPECT_EQ(m.checkpoints_skipped(), 99999u + 9u);
  st.flush();
  m.checkpoint();
  EXPECT_EQ(m.checkpoints(), 3u);
  st.flush();
}

}  // namespace
}  // namespace sg::stream
