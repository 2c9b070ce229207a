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

// Commits never checkpoint on the store thread: a thread of its own does, and keeps the WAL short.
TEST(Store, CheckpointsRunOnTheirOwnThreadAndKeepTheWalBounded) {
  temp_dir dir;
  constexpr int n = 20000;
  {
    store st(dir.path.string());
    std::promise<void> all_done;
    std::atomic<int> left{n}, failed{0};
    for (int i = 0; i < n; ++i) {
      project_row p;
      p.id = "p" + std::to_string(i);
      p.name = "wal";
      p.description = std::string(300, 'x');
      p.owner = "o" + std::to_string(i % 2000);  // 10 projects each for 2,000 owners
      st.exec([p](database& db) { db.put_project(p); },
              [&](result<void> r) {
                if (!r) ++failed;
                if (--left == 0) all_done.set_value();
              });
    }
    all_done.get_future().wait();
    EXPECT_EQ(failed.load(), 0);
    EXPECT_GT(st.checkpoints(), 0u);
    // 20,000 commits of a ~0.5 KiB row each, back to back (the checkpoint thread never finds a pause
    // to catch up in): without checkpoints the WAL would hold all of them (~190 MB); past 4,000 pages
    // the writer checkpoints itself, so the WAL file stays near 16 MiB.
    auto wal = dir.path / "streamgate.db-wal";
    ASSERT_TRUE(std::filesystem::exists(wal));
    EXPECT_LT(std::filesystem::file_size(wal), 24u * 1024 * 1024);
    auto count = exec_wait<std::int64_t>(st, [](database& db) { return db.count_projects("o7"); });
    ASSERT_TRUE(count);
    EXPECT_EQ(*count, 10);
  }
  // Everything is in the database after a restart.
  store again(dir.path.string());
  auto total = exec_wait<std::int64_t>(again, [](database& db) {
    std::int64_t sum = 0;
    for (int o = 0; o < 2000; ++o) sum += db.count_projects("o" + std::to_string(o));
    return sum;
  });
  ASSERT_TRUE(total);
  EXPECT_EQ(*total, n);
}

// Fire-and-forget work queued while the store thread is busy lands in one transaction; a failing item
// costs only itself; refresh_connections (a savepoint) nests inside the batch.
TEST(Store, FireAndForgetWorkQueuedMeanwhileCommitsAsOneBatch) {
  temp_dir dir;
  store st(dir.path.string());
  std::promise<void> release;
  auto held = release.get_future().share();
  std::promise<void> holding;
  st.exec([held, &holding](database&) {
    holding.set_value();
    held.wait();  // the store thread is busy until every item below is queued
  }, [](result<void>) {});
  holding.get_future().wait();
  auto before = st.batches();
  constexpr int n = 10000;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    connection_row r;
    r.connection_id = "c" + std::to_string(i);
    r.connected_at = r.last_active_at = 1;
    r.ttl = 1000;
    ids.push_back(r.connection_id);
    st.run([r](database& db) { db.put_connection(r); });
    if (i == n / 2) st.run([](database&) { throw std::runtime_error("one item fails"); });
  }
  st.run([ids](database& db) { db.refresh_connections(ids, 5, 9000); });
  auto errors_before = st.errors();
  release.set_value();
  st.flush();
  EXPECT_EQ(st.batches() - before, 1u);
  EXPECT_EQ(st.batched_items(), static_cast<std::uint64_t>(n + 2));
  EXPECT_EQ(st.errors() - errors_before, 1u);
  auto count = exec_wait<std::int64_t>(st, [](database& db) { return db.count_connections(); });
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, n);
  auto row = exec_wait<std::optional<connection_row>>(st, [](database& db) { return db.get_connection("c7"); });
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->ttl, 9000);  // the refresh ran inside the batch
  // Expired by the refreshed TTL, in a batch of its own.
  int expired = 0;
  st.run([&expired](database& db) { expired = db.expire_connections(10000); });
  st.flush();
  EXPECT_EQ(expired, n);
}

}  // namespace
}  // namespace sg::store
