// The per-shard timer wheel: never early, each callback exactly once, past a turn, and released at shutdown.
#include "core/pacer.hpp"

#include "core/histogram.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <sstream>
#include <memory>
#include <thread>

namespace sg::core {
namespace {

using clock = std::chrono::steady_clock;

struct probe : paced {
  std::function<void()> fn;
  void on_tick() override { fn(); }
};

std::shared_ptr<probe> make_probe(std::function<void()> fn) {
  auto p = std::make_shared<probe>();
  p->fn = std::move(fn);
  return p;
}

// Runs `start` on the io_context's one thread, then the io_context until `done` (bounded).
void run_on(net::io_context& ioc, std::function<void()> start, const std::function<bool()>& done,
            std::chrono::seconds limit = std::chrono::seconds(10)) {
  net::post(ioc, std::move(start));
  auto deadline = clock::now() + limit;
  while (!done() && clock::now() < deadline) ioc.run_one_for(std::chrono::milliseconds(50));
  ASSERT_TRUE(done()) << "callbacks did not all run within the limit";
}

TEST(Pacer, OnlyForAShardThreadThatRunsIt) {
  net::io_context ioc{1};
  EXPECT_EQ(pacer::of(ioc.get_executor()), nullptr);  // this thread is not running it
  pacer* inside = nullptr;
  pacer* strand = reinterpret_cast<pacer*>(1);
  run_on(
      ioc,
      [&] {
        inside = pacer::of(ioc.get_executor());
        strand = pacer::of(net::make_strand(ioc));
      },
      [&] { return inside != nullptr; });
  EXPECT_NE(inside, nullptr);
  EXPECT_EQ(strand, nullptr);  // a strand may run on several threads: it keeps its own timers
}

TEST(Pacer, HundredThousandCallbacksOverThousandsOfTargetsRunOnceEachAndNeverEarly) {
  net::io_context ioc{1};
  constexpr int targets = 5000, rounds = 20;  // 100,000 callbacks
  int fired = 0, early = 0, twice = 0;
  std::vector<int> seen(targets, 0);
  pacer* p = nullptr;
  std::vector<std::shared_ptr<probe>> probes;
  // Each target reschedules itself every 1–7 ms, like a stream's tokens, `rounds` times.
  std::function<void(int)> arm = [&](int i) {
    auto due = clock::now() + std::chrono::microseconds(1000 + (i * 7919) % 6000);
    probes[i]->fn = [&, i, due] {
      if (clock::now() < due) ++early;
      ++fired;
      if (++seen[i] > rounds) ++twice;
      if (seen[i] < rounds) arm(i);
    };
    p->schedule(due, probes[i]);
  };
  for (int i = 0; i < targets; ++i) probes.push_back(make_probe({}));
  run_on(
      ioc,
      [&] {
        p = pacer::of(ioc.get_executor());
        for (int i = 0; i < targets; ++i) arm(i);
      },
      [&] { return fired == targets * rounds; }, std::chrono::seconds(30));
  EXPECT_EQ(fired, targets * rounds);
  EXPECT_EQ(early, 0);
  EXPECT_EQ(twice, 0);
  EXPECT_EQ(p->pending(), 0u);
  // One wake-up runs every callback due in its tick: far fewer wake-ups than callbacks.
  EXPECT_LT(p->wakeups(), static_cast<std::uint64_t>(targets * rounds / 4));
}

TEST(Pacer, RunsInDueOrderAcrossTicksAndBeyondOneTurn) {
  net::io_context ioc{1};
  std::vector<int> order;
  std::map<int, clock::time_point> due, ran;
  pacer* p = nullptr;
  std::vector<std::shared_ptr<probe>> keep;
  // Scheduled out of order; the last one is further out than a wheel turn (1.024 s).
  std::vector<std::pair<int, int>> plan{{3, 30}, {1, 2}, {4, 1100}, {2, 9}, {0, 0}};
  run_on(
      ioc,
      [&] {
        p = pacer::of(ioc.get_executor());
        auto now = clock::now();
        for (auto [id, ms] : plan) {
          due[id] = now + std::chrono::milliseconds(ms);
          keep.push_back(make_probe([&, id] {
            order.push_back(id);
            ran[id] = clock::now();
          }));
          p->schedule(due[id], keep.back());
        }
      },
      [&] { return order.size() == plan.size(); });
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  for (auto& [id, t] : ran) EXPECT_GE(t, due[id]) << "callback " << id << " ran early";
  EXPECT_EQ(p->pending(), 0u);
}

// tick_at_or_before: on the grid, at most a tick before, and a fixed point; for times before the
// pacer's epoch too. A due time on the grid runs in its own tick, not the next.
TEST(Pacer, TickAtOrBeforeIsTheLastTickOnTheGrid) {
  net::io_context ioc{1};
  pacer* p = nullptr;
  std::shared_ptr<probe> on_grid;
  clock::time_point due, ran;
  bool done = false;
  run_on(
      ioc,
      [&] {
        p = pacer::of(ioc.get_executor());
        auto now = clock::now();
        for (int i = -50'000; i < 50'000; ++i) {  // 100,000 times, 37 µs apart, around now
          auto t = now + std::chrono::microseconds(37) * i;
          auto g = p->tick_at_or_before(t);
          ASSERT_LE(g, t);
          ASSERT_GT(g, t - pacer::tick);
          ASSERT_EQ(p->tick_at_or_before(g), g);
          ASSERT_EQ(p->tick_at_or_before(g + pacer::tick), g + pacer::tick);
        }
        // Far before the epoch (a clock's earliest times) as well.
        auto old = now - std::chrono::hours(1) + std::chrono::microseconds(1);
        EXPECT_LE(p->tick_at_or_before(old), old);
        EXPECT_GT(p->tick_at_or_before(old), old - pacer::tick);
        due = p->tick_at_or_before(now) + 5 * pacer::tick;
        on_grid = make_probe([&] {
          ran = clock::now();
          done = true;
        });
        p->schedule(due, on_grid);
      },
      [&] { return done; });
  EXPECT_GE(ran, due);
  EXPECT_EQ(p->wakeups(), 1u);  // the tick of its due time, and only it
}

TEST(Pacer, AnEarlierCallbackRearmsTheTimer) {
  net::io_context ioc{1};
  bool late_ran = false, soon_ran = false;
  clock::time_point soon_at;
  pacer* p = nullptr;
  auto late = make_probe([&] { late_ran = true; });
  auto soon = make_probe([&] {
    soon_ran = true;
    soon_at = clock::now();
  });
  auto t0 = clock::now();
  run_on(
      ioc,
      [&] {
        p = pacer::of(ioc.get_executor());
        p->schedule(clock::now() + std::chrono::seconds(5), late);
        p->schedule(clock::now() + std::chrono::milliseconds(3), soon);
      },
      [&] { return soon_ran; });
  EXPECT_FALSE(late_ran);
  EXPECT_EQ(p->pending(), 1u);
  EXPECT_LT(soon_at - t0, std::chrono::seconds(5));  // not held back until the first one's time
}

// The cumulative count of `name`'s bucket with upper bound `le` (as rendered, e.g. "0.025"), or of all
// observations when `le` is "+Inf".
std::uint64_t bucket(const histogram& h, const std::string& le) {
  std::ostringstream o;
  h.render(o, "lag", "");
  auto text = o.str();
  auto key = "lag_bucket{le=\"" + le + "\"} ";
  auto at = text.find(key);
  if (at == std::string::npos) return ~std::uint64_t{0};
  return std::stoull(text.substr(at + key.size()));
}

// Each wake-up records how long after its tick it came, not after some older time: an idle thread
// wakes soon after its tick, and a thread held busy past a tick shows as one wake-up that late.
TEST(Pacer, EachWakeUpRecordsHowLongAfterItsTickItCame) {
  net::io_context ioc{1};
  histogram lag;
  pacer* p = nullptr;
  int fired = 0;
  std::vector<std::shared_ptr<probe>> keep;
  // Idle: one callback 300 ms out, so a lag measured from the pacer's start would show.
  run_on(
      ioc,
      [&] {
        p = pacer::of(ioc.get_executor());
        p->report_lag(&lag);
        keep.push_back(make_probe([&] { ++fired; }));
        p->schedule(clock::now() + std::chrono::milliseconds(300), keep.back());
      },
      [&] { return fired == 1; });
  ASSERT_EQ(lag.count(), 1u);
  EXPECT_EQ(bucket(lag, "0.1"), 1u);
  auto within_25ms = bucket(lag, "0.025");

  // Busy for 30 ms past the first of 20 ticks: one wake-up runs them all, at least 29 ms late.
  ioc.restart();  // it ran out of work
  run_on(
      ioc,
      [&] {
        auto now = clock::now();
        for (int i = 1; i <= 20; ++i) {
          keep.push_back(make_probe([&] { ++fired; }));
          p->schedule(now + std::chrono::milliseconds(i), keep.back());
        }
        while (clock::now() < now + std::chrono::milliseconds(30)) {
        }
      },
      [&] { return fired == 21; });
  EXPECT_EQ(lag.count(), p->wakeups());
  EXPECT_EQ(lag.count(), 2u);
  EXPECT_EQ(bucket(lag, "0.025"), within_25ms);  // the stalled one is above 25 ms
  EXPECT_EQ(bucket(lag, "1"), 2u);

  // Recording stops when asked.
  ioc.restart();
  run_on(
      ioc,
      [&] {
        p->report_lag(nullptr);
        keep.push_back(make_probe([&] { ++fired; }));
        p->schedule(clock::now() + std::chrono::milliseconds(2), keep.back());
      },
      [&] { return fired == 22; });
  EXPECT_EQ(lag.count(), 2u);
  EXPECT_EQ(p->wakeups(), 3u);
}

// The run hooks (the server's send batch) wrap a run that starts on time, and not one that starts two
// ticks or more late, whose writes should not wait for the run's end.
int hook_depth = 0, hook_begins = 0, hook_ends = 0;
void hook_begin() { ++hook_depth, ++hook_begins; }
void hook_end() { --hook_depth, ++hook_ends; }

TEST(Pacer, RunHooksWrapARunOnTimeAndNotOneStartedLate) {
  pacer::set_run_hooks({&hook_begin, &hook_end});
  net::io_context ioc{1};
  pacer* p = nullptr;
  std::vector<std::shared_ptr<probe>> keep;
  // On time: a callback whose run came less than 2 ms after it was due ran between the hooks.
  int on_time = 0, fired = 0;
  for (int round = 0; round < 20 && on_time < 3; ++round) {
    ioc.restart();
    run_on(
        ioc,
        [&] {
          p = pacer::of(ioc.get_executor());
          auto due = clock::now() + std::chrono::milliseconds(3);
          keep.push_back(make_probe([&, due] {
            ++fired;
            if (clock::now() - due < std::chrono::milliseconds(2)) {
              ++on_time;
              EXPECT_EQ(hook_depth, 1);
            }
          }));
          p->schedule(due, keep.back());
        },
        [&] { return fired == round + 1; });
    EXPECT_EQ(hook_depth, 0);
    EXPECT_EQ(hook_begins, hook_ends);
  }
  EXPECT_GE(on_time, 1);
  // Late: the thread is busy for 30 ms past the first of 20 ticks, so the run that follows starts
  // at least 28 ms after its tick and none of its callbacks runs between the hooks.
  const int begins = hook_begins;
  int late = 0;
  ioc.restart();
  run_on(
      ioc,
      [&] {
        auto now = clock::now();
        for (int i = 1; i <= 20; ++i) {
          keep.push_back(make_probe([&] {
            ++late;
            EXPECT_EQ(hook_depth, 0);
          }));
          p->schedule(now + std::chrono::milliseconds(i), keep.back());
        }
        while (clock::now() < now + std::chrono::milliseconds(30)) {
        }
      },
      [&] { return late == 20; });
  EXPECT_EQ(hook_begins, begins);
  EXPECT_EQ(hook_depth, 0);
  pacer::set_run_hooks({nullptr, nullptr});
}

TEST(Pacer, ShutdownReleasesWhatIsStillScheduled) {
  std::weak_ptr<probe> watch;
  {
    net::io_context ioc{1};
    bool scheduled = false;
    run_on(
        ioc,
        [&] {
          auto target = make_probe([] {});
          watch = target;
          pacer::of(ioc.get_executor())->schedule(clock::now() + std::chrono::hours(1), target);
          scheduled = true;
        },
        [&] { return scheduled; });
    EXPECT_FALSE(watch.expired());  // held by the wheel
  }
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace sg::core
