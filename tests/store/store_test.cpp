// Store work always completes: with its value, or with the error that stopped it (full, unusable).
#include "store/store.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <stdexcept>

namespace sg::store {
namespace {

struct temp_dir {
  std::filesystem::path path;
  temp_dir() {
    char tmpl[] = "/tmp/sg-store-test-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

template <class T, class Work>
result<T> exec_wait(store& st, Work work) {
  std::promise<result<T>> p;
  auto f = p.get_future();
  st.exec(std::move(work), [&p](result<T> r) { p.set_value(std::move(r)); });
  return f.get();
}

TEST(Store, ExecCompletesWithTheValue) {
  temp_dir dir;
  store st(dir.path.string());
  auto r = exec_wait<std::int64_t>(st, [](database& db) { return db.count_projects("nobody"); });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0);
  auto v = exec_wait<void>(st, [](database&) {});
  EXPECT_TRUE(v);
  EXPECT_EQ(st.errors(), 0u);
}

TEST(Store, ExecCompletesWithTheErrorThatStoppedTheWork) {
  temp_dir dir;
  store st(dir.path.string());
  auto r = exec_wait<int>(st, [](database& db) -> int {
    db.exec("INSERT INTO no_such_table VALUES (1)");
    return 1;
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), errc::unavailable);
  auto thrown = exec_wait<void>(st, [](database&) { throw std::runtime_error("a broken invariant"); });
  ASSERT_FALSE(thrown);
  EXPECT_EQ(st.errors(), 2u);
}

// Past the size cap every write fails with `full`, every completion still runs exactly once, and reads
// go on working.
TEST(Store, FullDatabaseFailsWritesButEveryCompletionRuns) {
  temp_dir dir;
  store st(dir.path.string(), 96 * 1024);
  std::atomic<int> ok{0}, full{0}, other{0};
  std::promise<void> all_done;
  constexpr int n = 2000;
  std::atomic<int> left{n};
  for (int i = 0; i < n; ++i) {
    project_row p;
    p.id = "p" + std::to_string(i);
    p.name = "fill";
    p.description = std::string(500, 'x');
    p.owner = "o";
    st.exec([p](database& db) { db.put_project(p); },
            [&](result<void> r) {
              if (r) ++ok;
              else if (r.error() == errc::full) ++full;
              else ++other;
              if (--left == 0) all_done.set_value();
            });
  }
  all_done.get_future().wait();
  EXPECT_GT(ok.load(), 10);
  EXPECT_GT(full.load(), 1000);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(ok + full, n);
  auto count = exec_wait<std::int64_t>(st, [](database& db) { return db.count_projects("o"); });
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, ok.load());
}

}  // namespace
}  // namespace sg::store
