// Store work always completes: with its value, or with the error that stopped it (full, unusable).
#include "store/project_cache.hpp"
#include "store/store.hpp"
#include "store/postgres_database.hpp"
#include "store/schema.hpp"
#include "store/sqlite_database.hpp"
#include "support/temp_dir.hpp"

#include "integration/postgres_server.hpp"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <map>
#include <random>
#include <optional>

#include <atomic>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <thread>

namespace sg::store {
namespace {

using sg::test::temp_dir;

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


// With the store idle, the first item waits batch_gather for others: connections that arrive one
// at a time within it (here 20, each queued after the one before was) share one commit.
TEST(Store, ItemsArrivingWithinTheGatherTimeShareOneBatch) {
  temp_dir dir;
  store st(dir.path.string());
  st.flush();
  auto before = st.batches();
  auto items_before = st.batched_items();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) {
    connection_row r;
    r.connection_id = "g" + std::to_string(i);
    r.connected_at = r.last_active_at = 1;
    r.ttl = 1000;
    st.run([r](database& db) { db.put_connection(r); });
  }
  auto queued_in = std::chrono::steady_clock::now() - t0;
  st.flush();
  // Queuing 20 items takes microseconds; a test thread descheduled for longer may see more batches.
  static_assert(default_batch_gather >= std::chrono::milliseconds(5));
  if (queued_in < std::chrono::milliseconds(5)) {
    EXPECT_EQ(st.batches() - before, 1u) << "queued in " << queued_in.count() << " ns";
  }
  EXPECT_EQ(st.batched_items() - items_before, 20u);
  auto count = exec_wait<std::int64_t>(st, [](database& db) { return db.count_connections(); });
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, 20);
}

// flush() does not wait out a batch's gather time: with an hour to gather, the batch queued before
// flush() has run when it returns (start-up and shutdown flush; they waited 50 ms each before). A
// batch queued after flush() returned still gathers.
TEST(Store, FlushRunsTheBatchBeingGatheredAtOnce) {
  temp_dir dir;
  store st(options{.database = {}, .data_dir = dir.path.string(), .batch_gather = std::chrono::hours(1)});
  auto before = st.batches();
  std::atomic<int> ran{0};
  st.run([&ran](database&) { ++ran; });
  st.run([&ran](database&) { ++ran; });
  auto flushed = std::async(std::launch::async, [&st] { st.flush(); });
  ASSERT_EQ(flushed.wait_for(std::chrono::seconds(20)), std::future_status::ready) << "flush waited for the gather time";
  EXPECT_EQ(ran.load(), 2);
  EXPECT_EQ(st.batches() - before, 1u);
  st.run([&ran](database&) { ++ran; });
  auto row = exec_wait<std::int64_t>(st, [](database& db) { return db.count_connections(); });
  ASSERT_TRUE(row);
  EXPECT_EQ(ran.load(), 2) << "a new batch gathers as before";
  st.flush();
  EXPECT_EQ(ran.load(), 3);
}

// ---- every engine ----------------------------------------------------------------------------

// While the server is away each pooled connection backs off (100 ms doubling to 2 s); once one of
// them connects again, the server is back and the others try at once instead of failing work until
// their own backoff ends. Here one connection has backed off past a second when the server returns.
TEST(PostgresPool, OneReconnectedConnectionEndsTheOthersBackoff) {
  test::postgres_server pg;
  auto pool = std::make_shared<std::atomic<std::uint64_t>>(0);
  postgres_database first(pg.url(), true, pool), second(pg.url(), false, pool);
  pg.stop();
  std::string why;  // the last failure's message
  auto fails = [&why](database& db) {
    try {
      db.count_connections();
      return false;
    } catch (const database_error& e) {
      why = e.what();
      return e.disconnected();
    }
  };
  EXPECT_TRUE(fails(first));
  // `second` keeps trying until a failed attempt has backed it off past a second (100 + 200 + 400
  // + 800 ms of attempts: each try that is not backed off reconnects and fails again).
  auto began = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - began < std::chrono::milliseconds(1600)) {
    EXPECT_TRUE(fails(second));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // a retry loop's pace, not a sync
  }
  pg.start();
  EXPECT_EQ(first.count_connections(), 0);  // its one failure was long ago: it connects
  auto second_before = second.connects();
  EXPECT_EQ(second.count_connections(), 0);  // backed off for another second or more, but the pool is back
  EXPECT_EQ(second.connects(), second_before + 1);
  // Without a sibling's connect since its failure, a connection still waits out its backoff.
  pg.stop();
  EXPECT_TRUE(fails(second));  // the query finds the server gone
  EXPECT_TRUE(fails(second));  // the reconnect fails: backed off for 100 ms
  EXPECT_NE(why.find("cannot connect"), std::string::npos) << why;
  EXPECT_TRUE(fails(second));  // within the backoff: no attempt
  EXPECT_NE(why.find("backed off"), std::string::npos) << why;
}

// The same tests on SQLite and on a PostgreSQL server of the test's own.
class StoreEngines : public ::testing::TestWithParam<std::string> {
 protected:
  options opts() {
    options o;
    o.data_dir = dir_.path.string();
    if (GetParam() == "postgres") {
      if (!pg_) pg_ = std::make_unique<test::postgres_server>();
      o.database = pg_->url();
      o.pool_size = 2;
    }
    return o;
  }
  temp_dir dir_;
  std::unique_ptr<test::postgres_server> pg_;
};

TEST_P(StoreEngines, ExecCompletesWithTheValueOrTheErrorThatStoppedTheWork) {
  store st(opts());
  EXPECT_EQ(std::string(st.engine()), GetParam());
  auto r = exec_wait<std::int64_t>(st, [](database& db) { return db.count_projects("nobody"); });
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, 0);
  auto bad = exec_wait<int>(st, [](database& db) -> int {
    db.exec("INSERT INTO no_such_table VALUES (1)");
    return 1;
  });
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), errc::unavailable);
  auto thrown = exec_wait<void>(st, [](database&) { throw std::runtime_error("a broken invariant"); });
  ASSERT_FALSE(thrown);
  EXPECT_EQ(st.errors(), 2u);
  // The connection is usable after a failure (on PostgreSQL, the failed transaction was rolled back).
  auto again = exec_wait<std::int64_t>(st, [](database& db) { return db.count_connections(); });
  ASSERT_TRUE(again);
}

// A read sees every write committed before it. On SQLite it runs on the calling thread (its value
// is there before read() returns); on PostgreSQL it goes to a store thread like any other work.
TEST_P(StoreEngines, ReadsSeeEveryCommittedWriteAndRunOnTheCallingThreadOnSqlite) {
  store st(opts());
  bool here = GetParam() == "sqlite";
  ASSERT_TRUE(exec_wait<void>(st, [](database& db) { db.put_project({"p", "n", "", "alice", 1, 1}); }));
  constexpr int writes = 300;
  for (int i = 0; i < writes; ++i) {
    ASSERT_TRUE(exec_wait<void>(st, [i](database& db) {
      db.put_card({"c" + std::to_string(i), "p", "instruction", "card " + std::to_string(i), i, 1});
    }));
    std::promise<result<std::size_t>> p;
    auto f = p.get_future();
    auto caller = std::this_thread::get_id();
    std::thread::id ran_on;
    st.read([&ran_on](database& db) {
      ran_on = std::this_thread::get_id();
      return db.list_cards("p").size();
    }, [&p](result<std::size_t> r) { p.set_value(std::move(r)); });
    if (here) {
      ASSERT_EQ(f.wait_for(std::chrono::seconds(0)), std::future_status::ready);
      EXPECT_EQ(ran_on, caller);
    }
    auto r = f.get();
    ASSERT_TRUE(r);
    ASSERT_EQ(*r, static_cast<std::size_t>(i + 1));
    if (!here) {
      EXPECT_NE(ran_on, caller);
    }
  }
  EXPECT_EQ(st.reads_here(), here ? static_cast<std::uint64_t>(writes) : 0u);

  // Another thread reads on a connection of its own.
  std::thread other([&] {
    std::promise<result<bool>> p;
    auto f = p.get_future();
    st.read([](database& db) { return db.get_project("p").has_value(); },
            [&p](result<bool> r) { p.set_value(std::move(r)); });
    auto r = f.get();
    EXPECT_TRUE(r && *r);
  });
  other.join();
  EXPECT_EQ(st.reads_here(), here ? static_cast<std::uint64_t>(writes + 1) : 0u);

  // A read that fails is read again on the store thread, which reports the error.
  std::promise<result<int>> p;
  auto f = p.get_future();
  st.read([](database& db) -> int {
    db.exec("SELECT * FROM no_such_table");
    return 1;
  }, [&p](result<int> r) { p.set_value(std::move(r)); });
  auto bad = f.get();
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), errc::unavailable);
  EXPECT_EQ(st.errors(), 1u);
}

// A store made where an earlier one was (same thread, maybe the same address) reads its own file.
TEST(Store, ReadsOfANewStoreUseItsOwnConnection) {
  for (int i = 0; i < 3; ++i) {
    temp_dir dir;
    std::optional<store> st;
    st.emplace(dir.path.string());
    auto name = "project " + std::to_string(i);
    ASSERT_TRUE(exec_wait<void>(*st, [&](database& db) { db.put_project({"p", name, "", "alice", 1, 1}); }));
    std::promise<result<std::string>> p;
    st->read([](database& db) { return db.get_project("p").value().name; },
             [&p](result<std::string> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, name);
    EXPECT_EQ(st->reads_here(), 1u);
  }
}

// Every statement of the interface, with the answers both engines must agree on.
TEST_P(StoreEngines, RowsRoundTripTheSameOnEveryEngine) {
  store st(opts());
  auto r = exec_wait<bool>(st, [](database& db) {
    for (int i = 0; i < 5; ++i)
      db.put_project({"p" + std::to_string(i), "name " + std::to_string(i), "d'\"\\ é", "alice", 100 + i / 2, 100});
    db.put_project({"other", "bob's", "", "bob", 1, 1});
    EXPECT_EQ(db.count_projects("alice"), 5);
    auto all = db.list_projects("alice");
    EXPECT_EQ(all.size(), 5u);
    // created_at, then insertion order
    for (std::size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].id, "p" + std::to_string(i));
    EXPECT_EQ(all[0].description, "d'\"\\ é");
    auto page = db.list_projects("alice", 2, 3);
    EXPECT_EQ(page.size(), 2u);
    EXPECT_EQ(page.at(0).id, "p3");
    auto p = db.get_project("p1");
    EXPECT_TRUE(p && p->name == "name 1" && p->created_at == 100 && p->owner == "alice");
    db.put_project({"p1", "renamed", "", "alice", 100, 200});
    EXPECT_EQ(db.get_project("p1")->name, "renamed");
    EXPECT_EQ(db.get_project("p1")->updated_at, 200);
    EXPECT_FALSE(db.get_project("nope"));

    db.put_card({"c1", "p1", "instruction", "first", 5, 10});
    db.put_card({"c2", "p1", "example", "second", -1, 11});
    db.put_card({"c3", "p1", "style", "third", 5, 10});
    auto cards = db.list_cards("p1");
    EXPECT_EQ(cards.size(), 3u);
    EXPECT_EQ(cards.at(0).id, "c2");
    EXPECT_EQ(cards.at(1).id, "c1");
    EXPECT_EQ(cards.at(2).id, "c3");
    EXPECT_EQ(db.list_cards("p1", 1, 1).at(0).id, "c1");
    db.put_card({"c1", "p1", "style", "changed", 7, 10});
    EXPECT_EQ(db.get_card("p1", "c1")->content, "changed");
    EXPECT_EQ(db.get_card("p1", "c1")->order, 7);
    EXPECT_FALSE(db.get_card("p2", "c1"));
    EXPECT_TRUE(db.delete_card("p1", "c3"));
    EXPECT_FALSE(db.delete_card("p1", "c3"));

    std::int64_t last = 0;
    for (int i = 0; i < 5; ++i) {
      auto id = db.add_message(
          {0, "p1", i % 2 ? "assistant" : "user", "m" + std::to_string(i), "complete", "st", 50, "alice", ""});
      EXPECT_GT(id, last);
      last = id;
    }
    db.add_message({0, "p1", "user", "bob's", "complete", "", 50, "bob", ""});
    auto newest = db.list_messages("p1", "alice", 0, 3);
    EXPECT_EQ(newest.size(), 3u);
    EXPECT_EQ(newest.at(0).content, "m4");
    auto older = db.list_messages("p1", "alice", newest.back().id, 10);
    EXPECT_EQ(older.size(), 2u);
    EXPECT_EQ(older.at(1).content, "m0");
    EXPECT_EQ(db.list_messages("p1", "bob", 0, 10).size(), 1u);

    EXPECT_TRUE(db.delete_project("p1"));
    EXPECT_FALSE(db.delete_project("p1"));
    EXPECT_TRUE(db.list_cards("p1").empty());
    EXPECT_TRUE(db.list_messages("p1", "alice", 0, 10).empty());

    db.put_connection({"k1", 1, 2, 1000, "127.0.0.1", "ua", "alice"});
    db.put_connection({"k2", 1, 2, 3000, "", "", ""});
    db.put_connection({"k1", 1, 5, 1000, "127.0.0.1", "ua2", "alice"});
    EXPECT_EQ(db.count_connections(), 2);
    EXPECT_EQ(db.get_connection("k1")->user_agent, "ua2");
    db.refresh_connections({"k1", "missing", "quote\"d"}, 4, 5000);
    auto k1 = db.get_connection("k1");
    EXPECT_EQ(k1->ttl, 5000);
    EXPECT_EQ(k1->last_active_at, 5);  // never moves back
    EXPECT_EQ(db.expire_connections(4000), 1);
    EXPECT_FALSE(db.get_connection("k2"));
    db.delete_connection("k1");
    EXPECT_EQ(db.count_connections(), 0);
    return true;
  });
  ASSERT_TRUE(r) << r.error().message();
}

// An answer is a row from its start: checkpoints update it while it runs and never after it ended;
// the running rows of one node (or of all) become `interrupted` with their text.
TEST_P(StoreEngines, RunningAnswersAreCheckpointedAndInterruptedByNode) {
  store st(opts());
  auto r = exec_wait<bool>(st, [](database& db) {
    auto answer = [&](const std::string& stream, const std::string& node) {
      db.add_message({0, "p", "user", "question " + stream, "complete", stream, 1, "alice", ""});
      db.add_message({0, "p", "assistant", "", "streaming", stream, 1, "alice", node});
    };
    answer("s1", "n1");
    answer("s2", "n1");
    answer("s3", "n2");
    answer("s4", "n2");
    EXPECT_TRUE(db.set_answer("s1", "partial one", "streaming", true));
    EXPECT_TRUE(db.set_answer("s2", "done two", "complete", false));
    EXPECT_FALSE(db.set_answer("s2", "late checkpoint", "streaming", true));  // after the end: left alone
    EXPECT_FALSE(db.set_answer("nope", "x", "streaming", true));
    EXPECT_TRUE(db.set_answer("s3", "partial three", "streaming", true));
    EXPECT_EQ(db.interrupt_running("n1"), 1);  // s1 only: s2 had ended, s3 and s4 are n2's
    EXPECT_EQ(db.interrupt_running("n1"), 0);
    auto by_stream = [&] {
      std::map<std::string, std::pair<std::string, std::string>> out;  // stream → (status, content)
      for (auto& m : db.list_messages("p", "alice", 0, 100))
        if (m.role == "assistant") out[m.stream_id] = {m.status, m.content};
      return out;
    };
    auto rows = by_stream();
    EXPECT_EQ(rows["s1"], std::make_pair(std::string("interrupted"), std::string("partial one")));
    EXPECT_EQ(rows["s2"], std::make_pair(std::string("complete"), std::string("done two")));
    EXPECT_EQ(rows["s3"].first, "streaming");
    EXPECT_EQ(db.interrupt_running(""), 2);  // every node's: s3 and s4
    rows = by_stream();
    EXPECT_EQ(rows["s3"], std::make_pair(std::string("interrupted"), std::string("partial three")));
    EXPECT_EQ(rows["s4"], std::make_pair(std::string("interrupted"), std::string()));
    return true;
  });
  ASSERT_TRUE(r) << r.error().message();
}

// Saving an answer finds its row through the index on stream_id, whatever the engine: the query plan
// of the statement, as each engine would run it with any stream id (SQLite's plan; PostgreSQL's
// generic plan, with sequential scans priced out), names the index. A plan that scans the table
// makes every save cost the whole history: with a thousand streams running, the store thread was
// saturated by the one-second checkpoints.
TEST_P(StoreEngines, AnAnswerIsFoundByItsStreamIdThroughAnIndex) {
  store st(opts());
  std::string plan;
  if (GetParam() == "sqlite") {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open_v2((dir_.path / "streamgate.db").c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    // The checkpoint's statement too: its status = 'streaming' must not lead SQLite to the partial
    // index of running answers (every one of them) instead of the stream id's.
    for (const char* sql : {sqlite_database::set_answer_sql, sqlite_database::checkpoint_answer_sql}) {
      sqlite3_stmt* q = nullptr;
      ASSERT_EQ(sqlite3_prepare_v2(db, (std::string("EXPLAIN QUERY PLAN ") + sql).c_str(), -1, &q, nullptr), SQLITE_OK)
          << sqlite3_errmsg(db);
      std::string one;
      while (sqlite3_step(q) == SQLITE_ROW) one += reinterpret_cast<const char*>(sqlite3_column_text(q, 3)) + std::string("\n");
      sqlite3_finalize(q);
      EXPECT_NE(one.find("messages_stream"), std::string::npos) << sql << "\n" << one;
      plan += one;
    }
    sqlite3_close(db);
  } else {
    auto* c = PQconnectdb(pg_->url().c_str());
    ASSERT_EQ(PQstatus(c), CONNECTION_OK) << PQerrorMessage(c);
    for (auto sql : {"SET plan_cache_mode = force_generic_plan", "SET enable_seqscan = off"})
      PQclear(PQexec(c, sql));
    PQclear(PQexec(c, (std::string("PREPARE save_answer AS ") + postgres_database::set_answer_sql).c_str()));
    auto* r = PQexec(c, "EXPLAIN EXECUTE save_answer('text', 'streaming', 'st_x', 1)");
    ASSERT_EQ(PQresultStatus(r), PGRES_TUPLES_OK) << PQerrorMessage(c);
    for (int i = 0; i < PQntuples(r); ++i) plan += std::string(PQgetvalue(r, i, 0)) + "\n";
    PQclear(r);
    PQfinish(c);
  }
  EXPECT_NE(plan.find("messages_stream"), std::string::npos) << plan;
}

// The schema is versioned: a new database gets every migration once, recorded in schema_version;
// reopening it applies nothing again and keeps the rows.
TEST_P(StoreEngines, MigrationsAreVersionedAndAppliedOnce) {
  auto o = opts();
  {
    store st(o);
    auto v = exec_wait<int>(st, [](database& db) { return db.schema_version(); });
    ASSERT_TRUE(v);
    EXPECT_EQ(*v, latest_schema_version());
    ASSERT_TRUE(exec_wait<void>(st, [](database& db) { db.put_project({"kept", "k", "", "o", 1, 1}); }));
  }
  store again(o);
  auto rows = exec_wait<std::int64_t>(again, [](database& db) { return db.count_projects("o"); });
  ASSERT_TRUE(rows);
  EXPECT_EQ(*rows, 1);
  auto v = exec_wait<int>(again, [](database& db) { return db.schema_version(); });
  ASSERT_TRUE(v);
  EXPECT_EQ(*v, static_cast<int>(migrations().size()));
}

// A database left at version 2 gets the connection table of version 3 (one B-tree keyed by the id,
// no ttl index) with every row kept, and the sweep still expires exactly the rows past their TTL.
TEST(StoreSchema, Version3KeepsEveryConnectionRowAndTheSweepStillExpires) {
  temp_dir dir;
  auto file = (dir.path / "streamgate.db").string();
  static constexpr int rows = 5000;
  {
    sqlite3* raw = nullptr;
    ASSERT_EQ(sqlite3_open(file.c_str(), &raw), SQLITE_OK);
    std::unique_ptr<sqlite3, sqlite_closer> db(raw);
    auto run = [&](const std::string& sql) { ASSERT_EQ(sqlite3_exec(raw, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(raw); };
    run("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at INTEGER NOT NULL)");
    for (auto& m : migrations()) {
      if (m.version > 2) break;
      run(m.sqlite);
      run("INSERT INTO schema_version VALUES(" + std::to_string(m.version) + ", 'x', 1)");
    }
    run("BEGIN");
    for (int i = 0; i < rows; ++i)
      run("INSERT INTO connections VALUES('c" + std::to_string(i) + "', " + std::to_string(i) + ", " + std::to_string(i + 1) +
          ", " + std::to_string(i % 2 ? 1000 : 3000) + ", '10.0.0." + std::to_string(i % 250) + "', 'ua', 'sub" +
          std::to_string(i) + "')");
    run("COMMIT");
  }
  store st(dir.path.string());
  auto checked = exec_wait<bool>(st, [](database& db) {
    EXPECT_EQ(db.schema_version(), latest_schema_version());
    EXPECT_EQ(db.count_connections(), rows);
    auto c = db.get_connection("c4321");
    EXPECT_TRUE(c);
    if (!c) return false;
    EXPECT_EQ(c->connected_at, 4321);
    EXPECT_EQ(c->last_active_at, 4322);
    EXPECT_EQ(c->ttl, 1000);
    EXPECT_EQ(c->source_ip, "10.0.0.71");
    EXPECT_EQ(c->user_agent, "ua");
    EXPECT_EQ(c->sub, "sub4321");
    // Rows whose ttl < 2000 (the odd ones) go; the others stay.
    EXPECT_EQ(db.expire_connections(2000), rows / 2);
    EXPECT_EQ(db.count_connections(), rows / 2);
    EXPECT_FALSE(db.get_connection("c4321"));
    EXPECT_TRUE(db.get_connection("c4320"));
    db.refresh_connections({"c0", "c2"}, 50, 9000);
    EXPECT_EQ(db.expire_connections(5000), rows / 2 - 2);
    EXPECT_EQ(db.get_connection("c2")->last_active_at, 50);
    EXPECT_EQ(db.get_connection("c0")->ttl, 9000);
    return true;
  });
  ASSERT_TRUE(checked && *checked);
  // The shape: clustered by id, no index but the key.
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(file.c_str(), &raw), SQLITE_OK);
  std::unique_ptr<sqlite3, sqlite_closer> db(raw);
  EXPECT_NE(sqlite3_exec(raw, "SELECT rowid FROM connections", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_stmt* st2 = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(raw, "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'connections' "
                                    "AND sql IS NOT NULL", -1, &st2, nullptr), SQLITE_OK);
  std::unique_ptr<sqlite3_stmt, stmt_finalizer> guard(st2);
  ASSERT_EQ(sqlite3_step(st2), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st2, 0), 0);
}

// BEGIN, COMMIT, SAVEPOINT … are kept prepared on a SQLite connection: 10,000 transactions with a
// savepoint each commit every row; a failing one reports its error and leaves the connection usable;
// past the cache's 16 texts, statements still run (through sqlite3_exec).
TEST(StoreSchema, TransactionStatementsKeptPreparedBehaveAsExecuted) {
  temp_dir dir;
  sqlite_database db((dir.path / "tx.db").string());
  static constexpr int transactions = 10'000;
  for (int i = 0; i < transactions; ++i) {
    db.begin();
    db.exec("SAVEPOINT item");
    db.put_connection({"c" + std::to_string(i), i, i, 1000, "127.0.0.1", "ua", ""});
    if (i % 2) {
      db.exec("RELEASE SAVEPOINT item");
    } else {  // every other row is rolled back to its savepoint
      db.exec("ROLLBACK TO SAVEPOINT item");
      db.exec("RELEASE SAVEPOINT item");
    }
    db.commit();
  }
  EXPECT_FALSE(db.in_transaction());
  EXPECT_EQ(db.count_connections(), transactions / 2);
  // Errors come through with SQLite's message, and the next statement runs.
  EXPECT_THROW(db.exec("RELEASE SAVEPOINT nosuch"), database_error);
  EXPECT_THROW(db.commit(), database_error);  // no transaction is open
  db.begin();
  EXPECT_THROW(db.begin(), database_error);  // one is open already
  db.rollback();
  EXPECT_FALSE(db.in_transaction());
  // More distinct savepoint names than the cache holds, nested.
  db.begin();
  for (int i = 0; i < 40; ++i) db.exec("SAVEPOINT s" + std::to_string(i));
  db.put_connection({"nested", 1, 1, 1000, "127.0.0.1", "ua", ""});
  for (int i = 39; i >= 0; --i) db.exec("RELEASE SAVEPOINT s" + std::to_string(i));
  db.commit();
  EXPECT_TRUE(db.get_connection("nested"));
  EXPECT_EQ(db.count_connections(), transactions / 2 + 1);
}

// A database migrated by a newer build is refused, never written with an older schema in mind.
TEST(StoreSchema, NewerSchemaThanThisBuildIsRefused) {
  EXPECT_NO_THROW(refuse_newer_schema(latest_schema_version()));
  EXPECT_NO_THROW(refuse_newer_schema(0));
  EXPECT_THROW(refuse_newer_schema(latest_schema_version() + 1), std::runtime_error);
}

// Fire-and-forget work lands in order (a row put, then deleted, stays deleted); a failing item
// costs only itself, on PostgreSQL too, where a failed statement would spoil the whole transaction.
TEST_P(StoreEngines, FireAndForgetWorkRunsInOrderAndAFailureCostsOnlyItself) {
  store st(opts());
  constexpr int n = 2000;
  std::vector<std::string> ids;
  for (int i = 0; i < n; ++i) {
    connection_row r;
    r.connection_id = "c" + std::to_string(i);
    r.connected_at = r.last_active_at = 1;
    r.ttl = 1000;
    ids.push_back(r.connection_id);
    st.run([r](database& db) { db.put_connection(r); });
    if (i % 2) st.run([id = r.connection_id](database& db) { db.delete_connection(id); });
    if (i == n / 2) st.run([](database& db) { db.exec("INSERT INTO no_such_table VALUES (1)"); });
  }
  st.run([ids](database& db) { db.refresh_connections(ids, 5, 9000); });
  st.flush();
  EXPECT_EQ(st.errors(), 1u);
  auto count = exec_wait<std::int64_t>(st, [](database& db) { return db.count_connections(); });
  ASSERT_TRUE(count);
  EXPECT_EQ(*count, n / 2);
  auto row = exec_wait<std::optional<connection_row>>(st, [](database& db) { return db.get_connection("c8"); });
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->ttl, 9000);
}

INSTANTIATE_TEST_SUITE_P(Engines, StoreEngines, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& i) { return i.param; });

// ---- PostgreSQL only -------------------------------------------------------------------------

// The pool: work items run side by side on their own connections, so one slow query holds up no other.
TEST(PostgresStore, PoolRunsWorkSideBySide) {
  test::postgres_server pg;
  temp_dir dir;
  store st(options{.database = pg.url(), .data_dir = dir.path.string(), .max_bytes = 0, .pool_size = 3});
  EXPECT_EQ(st.pool_size(), 3u);
  std::atomic<int> inside{0};
  std::vector<std::future<result<int>>> done;
  for (int i = 0; i < 3; ++i) {
    auto p = std::make_shared<std::promise<result<int>>>();
    done.push_back(p->get_future());
    st.exec(
        [&, i](database& db) {
          db.exec("SELECT 1");
          ++inside;
          // Each waits for the other two: only three connections working at once get past this.
          auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (inside.load() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
          return inside.load() == 3 ? i : -1;
        },
        [p](result<int> r) { p->set_value(std::move(r)); });
  }
  for (int i = 0; i < 3; ++i) {
    auto r = done[static_cast<std::size_t>(i)].get();
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, i);
  }
}

// The server restarts: work fails with `unavailable` while it is away, and succeeds again once it
// is back, on every pooled connection, without restarting the store.
TEST(PostgresStore, RestartedServerIsReconnected) {
  test::postgres_server pg;
  temp_dir dir;
  store st(options{.database = pg.url(), .data_dir = dir.path.string(), .max_bytes = 0, .pool_size = 2});
  ASSERT_TRUE(exec_wait<void>(st, [](database& db) { db.put_project({"p", "before", "", "o", 1, 1}); }));
  pg.stop();
  auto away = exec_wait<std::int64_t>(st, [](database& db) { return db.count_projects("o"); });
  ASSERT_FALSE(away);
  EXPECT_EQ(away.error(), errc::unavailable);
  pg.start();
  // Reconnection is backed off (at most 2 s between attempts): poll until it succeeds.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  result<std::int64_t> back{boost::system::in_place_error, make_error_code(errc::unavailable)};
  while (!(back = exec_wait<std::int64_t>(st, [](database& db) { return db.count_projects("o"); })) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // between polls, not in place of one
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, 1);
  // Every connection of the pool works again (the second one's first work after the restart included).
  for (int i = 0; i < 6; ++i) {
    auto r = exec_wait<std::int64_t>(st, [](database& db) { return db.count_projects("o"); });
    ASSERT_TRUE(r) << i;
  }
}

// Two connections write to one history (a project's messages by one owner), as two store threads
// or two nodes do: a question and its answer written in one transaction that holds the history stay
// next to each other, the other connection's pair waiting for it rather than landing between them.
TEST(PostgresStore, AQuestionAndItsAnswerStayTogetherWhileAnotherConnectionWritesTheirHistory) {
  test::postgres_server pg;
  postgres_database a(pg.url(), true), b(pg.url(), false);
  a.put_project({"p", "together", "", "o", 1, 1});
  auto row = [](const char* role, const char* stream) {
    message_row m;
    m.project_id = "p";
    m.owner = "o";
    m.role = role;
    m.content = std::string(role) + " of " + stream;
    m.status = "complete";
    m.stream_id = stream;
    m.created_at = 1;
    return m;
  };
  a.begin_write();
  a.hold_histories({{"p", "o"}, {"elsewhere", "o"}});
  a.add_message(row("user", "s1"));
  auto other = std::async(std::launch::async, [&] {
    b.begin_write();
    b.hold_histories({{"elsewhere", "o"}, {"p", "o"}});  // listed in another order: still no deadlock
    b.add_message(row("user", "s2"));
    b.add_message(row("assistant", "s2"));
    b.commit();
  });
  // a's answer is written once b has written its pair or is waiting for the history.
  auto* watch = PQconnectdb(pg.url().c_str());
  ASSERT_EQ(PQstatus(watch), CONNECTION_OK);
  auto b_waits = [watch] {
    auto* r = PQexec(watch, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
    bool yes = PQresultStatus(r) == PGRES_TUPLES_OK && std::string(PQgetvalue(r, 0, 0)) != "0";
    PQclear(r);
    return yes;
  };
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  bool waited = false;
  while (other.wait_for(std::chrono::milliseconds(1)) != std::future_status::ready &&
         !(waited = b_waits()) && std::chrono::steady_clock::now() < deadline) {
  }
  PQfinish(watch);
  EXPECT_TRUE(waited) << "the other connection waited for the history";
  a.add_message(row("assistant", "s1"));
  a.commit();
  other.get();
  auto items = a.list_messages("p", "o", 0, 10);  // newest first
  ASSERT_EQ(items.size(), 4u);
  std::vector<std::string> got;
  for (auto it = items.rbegin(); it != items.rend(); ++it) got.push_back(it->role + " " + it->stream_id);
  EXPECT_EQ(got, (std::vector<std::string>{"user s1", "assistant s1", "user s2", "assistant s2"}));
}

TEST(DatabaseUrl, FormsAndDefaults) {
  auto d = database_url::parse("", "/var/lib/sg");
  EXPECT_EQ(d.kind, database_url::engine::sqlite);
  EXPECT_EQ(d.target, "/var/lib/sg/streamgate.db");
  EXPECT_EQ(database_url::parse("sqlite:rel/x.db", "d").target, "rel/x.db");
  EXPECT_EQ(database_url::parse("sqlite:///abs/x.db", "d").target, "/abs/x.db");
  auto pg = database_url::parse("postgres://sg:secret@db.internal:5432/sg?sslmode=require", "d");
  EXPECT_EQ(pg.kind, database_url::engine::postgres);
  EXPECT_EQ(pg.target, "postgres://sg:secret@db.internal:5432/sg?sslmode=require");
  EXPECT_EQ(pg.redacted(), "postgres://sg:***@db.internal:5432/sg?sslmode=require");
  EXPECT_EQ(database_url::parse("postgresql://sg@/sg?host=/run/postgresql", "d").redacted(),
            "postgresql://sg@/sg?host=/run/postgresql");
  EXPECT_THROW(database_url::parse("mysql://x", "d"), std::invalid_argument);
  EXPECT_THROW(database_url::parse("sqlite:", "d"), std::invalid_argument);
}

// The project cache keeps what a stream reads before its upstream request, and only while no write to
// a project or a card began or ended since: the store's generation says which.
std::shared_ptr<const project_cards> cards_of(std::string owner, std::vector<std::string> contents) {
  auto p = std::make_shared<project_cards>();
  p->owner = std::move(owner);
  for (auto& c : contents) p->cards.push_back({"c", "p", "instruction", c, 0, 0});
  return p;
}

TEST(ProjectGeneration, OddFromAProjectOrCardWriteUntilItsTransactionEndsAndUntouchedByOtherWrites) {
  temp_dir dir;
  store st(dir.path.string());
  auto* gen = st.project_generation();
  ASSERT_NE(gen, nullptr);
  auto g0 = gen->load();
  EXPECT_EQ(g0 % 2, 0u);

  // A stream's rows and the connection table are written all the time: they leave it alone.
  ASSERT_TRUE(exec_wait<void>(st, [](database& db) {
    message_row m;
    m.owner = "u";
    m.project_id = "p";
    m.role = "user";
    m.content = "hello";
    m.status = "complete";
    m.stream_id = "st_1";
    db.add_message(m);
    db.put_connection({"c1", 1, 1, 100, "127.0.0.1", "test", "u"});
  }));
  EXPECT_EQ(gen->load(), g0);

  // Inside a transaction that writes a card it is odd; once committed, even and moved on.
  std::uint64_t inside = 0;
  ASSERT_TRUE(exec_wait<void>(st, [&](database& db) {
    db.begin();
    db.put_project({"p", "name", "d", "u", 1, 1});
    db.put_card({"c", "p", "instruction", "text", 0, 1});
    inside = gen->load();
    db.commit();
  }));
  EXPECT_EQ(inside % 2, 1u);
  auto g1 = gen->load();
  EXPECT_EQ(g1 % 2, 0u);
  EXPECT_GT(g1, g0);

  // A write rolled back also ends with an even value.
  auto failed = exec_wait<void>(st, [&](database& db) {
    db.begin();
    db.put_card({"c2", "p", "instruction", "text", 1, 1});
    db.rollback();
    throw std::runtime_error("gave up");
  });
  EXPECT_FALSE(failed);
  auto g2 = gen->load();
  EXPECT_EQ(g2 % 2, 0u);
  EXPECT_GT(g2, g1);

  // Each kind of write, in a transaction of its own (autocommit), moves it on.
  for (auto write : std::vector<std::function<void(database&)>>{
           [](database& db) { db.put_project({"q", "n", "d", "u", 1, 1}); },
           [](database& db) { db.put_card({"c3", "q", "style", "x", 0, 1}); },
           [](database& db) { db.delete_card("q", "c3"); },
           [](database& db) { db.delete_project("q"); },
           [](database& db) { db.exec("UPDATE cards SET content = 'changed' WHERE id = 'c'"); }}) {
    auto before = gen->load();
    ASSERT_TRUE(exec_wait<void>(st, write));
    EXPECT_EQ(gen->load() % 2, 0u);
    EXPECT_GT(gen->load(), before);
  }
}

TEST(ProjectCache, KeepsOnlyAReadNoWriteOverlappedAndForgetsEverythingAtTheNextWrite) {
  std::atomic<std::uint64_t> gen{0};
  project_cache cache(gen, 1 << 20);
  EXPECT_EQ(cache.find("p"), nullptr);

  // Read while a write was under way: not kept.
  gen = 1;
  cache.keep(cache.generation(), "p", cards_of("u", {"a"}));
  gen = 2;
  EXPECT_EQ(cache.find("p"), nullptr);

  // A write began during the read, and another ended during the read: not kept either.
  auto at = cache.generation();
  gen = 3;
  cache.keep(at, "p", cards_of("u", {"a"}));
  gen = 4;
  EXPECT_EQ(cache.find("p"), nullptr);
  at = cache.generation();
  gen = 6;
  cache.keep(at, "p", cards_of("u", {"a"}));
  EXPECT_EQ(cache.find("p"), nullptr);

  // A quiet read is kept and found, as often as asked, until the next write begins.
  at = cache.generation();
  cache.keep(at, "p", cards_of("u", {"a", "b"}));
  for (int i = 0; i < 3; ++i) {
    auto hit = cache.find("p");
    ASSERT_NE(hit, nullptr);
    EXPECT_EQ(hit->cards.size(), 2u);
    EXPECT_EQ(*hit->owner, "u");
  }
  EXPECT_EQ(cache.hits(), 3u);
  EXPECT_EQ(cache.find("other"), nullptr);
  gen = 7;
  EXPECT_EQ(cache.find("p"), nullptr);
  gen = 8;
  EXPECT_EQ(cache.find("p"), nullptr) << "a write to any project or card forgets every entry";
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_EQ(cache.bytes(), 0u);
}

// 10^5 reads over 5,000 projects with random card sizes, writes among them: the cache never holds
// more than its bytes, and what it returns is always what the last write left.
TEST(ProjectCache, StaysWithinItsBytesAndNeverReturnsWhatAWriteReplaced) {
  constexpr std::size_t max_bytes = 256 * 1024;
  std::atomic<std::uint64_t> gen{0};
  project_cache cache(gen, max_bytes);
  std::map<std::string, std::uint64_t> version;  // what the "database" holds: a version per project
  std::mt19937 rng(7);
  std::size_t kept_max = 0, hits = 0;
  for (int i = 0; i < 100000; ++i) {
    auto id = "p" + std::to_string(rng() % 5000);
    if (rng() % 1000 == 0) {  // a write: odd, the row changes, even
      gen += 1;
      ++version[id];
      gen += 1;
      continue;
    }
    if (auto hit = cache.find(id)) {
      ++hits;
      auto& text = hit->cards.front().content;
      ASSERT_EQ(text.substr(0, text.find('|')), std::to_string(version[id]));
      continue;
    }
    auto at = cache.generation();
    auto text = std::to_string(version[id]) + '|';
    text.resize(text.size() + rng() % 2000, 'x');
    cache.keep(at, id, cards_of("u", {text}));
    ASSERT_LE(cache.bytes(), max_bytes);
    kept_max = std::max(kept_max, cache.size());
  }
  EXPECT_GT(hits, 0u);
  EXPECT_GT(kept_max, 50u);
  EXPECT_LT(kept_max, 5000u) << "bounded by bytes, not by the number of projects";

  // One entry larger than the whole cache is not kept, and evicts nothing.
  auto at = cache.generation();
  cache.keep(at, "small", cards_of("u", {"s"}));
  auto before = cache.size();
  cache.keep(at, "huge", cards_of("u", {std::string(max_bytes, 'h')}));
  EXPECT_EQ(cache.find("huge"), nullptr);
  EXPECT_EQ(cache.size(), before);
  EXPECT_NE(cache.find("small"), nullptr);
}

}  // namespace
}  // namespace sg::store
