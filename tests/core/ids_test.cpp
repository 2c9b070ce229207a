// Random identifiers: unique, of the stated length and alphabet, across many refills of the per-thread pool.
#include "core/ids.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <vector>

#include <thread>
#include <unordered_set>

namespace sg::core {
namespace {

TEST(RandomId, HundredThousandIdsAreDistinctWellFormedAndPrefixed) {
  std::unordered_set<std::string> seen;
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  int bad = 0;
  // 100,000 ids of 12 random bytes: 1.2 MB drawn, ~300 refills of the 4 KiB pool.
  for (int i = 0; i < 100000; ++i) {
    auto id = random_id("st_");
    if (id.size() != 3 + 16 || id.compare(0, 3, "st_") != 0 ||
        id.find_first_not_of(alphabet, 3) != std::string::npos)
      ++bad;
    seen.insert(std::move(id));
  }
  EXPECT_EQ(bad, 0);
  EXPECT_EQ(seen.size(), 100000u);
}

TEST(RandomId, LengthsFollowTheByteCountAndThreadsDrawDistinctIds) {
  EXPECT_EQ(random_id("", 24).size(), 32u);
  EXPECT_EQ(random_id("", 1).size(), 2u);
  EXPECT_EQ(random_id("", 2).size(), 3u);
  std::vector<std::string> a, b;
  std::thread t1([&] { for (int i = 0; i < 20000; ++i) a.push_back(random_id("", 12)); });
  std::thread t2([&] { for (int i = 0; i < 20000; ++i) b.push_back(random_id("", 12)); });
  t1.join();
  t2.join();
  std::unordered_set<std::string> all(a.begin(), a.end());
  all.insert(b.begin(), b.end());
  EXPECT_EQ(all.size(), 40000u);  // no two threads hand out the same pool bytes
}

}  // namespace
TEST(Ids, ConnectionIdsAreStoredInlineAndDistinct) {
  // Every copy of a connection's id (identity, registry key, log fields) stays inside the std::string.
  std::set<std::string> seen;
  for (int i = 0; i < 100000; ++i) {
    auto id = connection_id();
    ASSERT_EQ(id.size(), 15u);
    ASSERT_LE(id.size(), std::string().capacity());
    seen.insert(std::move(id));
  }
  EXPECT_EQ(seen.size(), 100000u);
}

TEST(Ids, ConnectionIdsMadeAMillisecondApartSortAsTheyWereMadeAndEndRandom) {
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<std::string> ids;
  auto last = std::chrono::system_clock::now();
  while (ids.size() < 50) {
    auto now = std::chrono::system_clock::now();
    if (!ids.empty() && now - last < std::chrono::milliseconds(1)) continue;  // the next millisecond
    last = now;
    ids.push_back(connection_id());
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i].find_first_not_of(alphabet), std::string::npos) << ids[i];
    if (i > 0) {
      EXPECT_LT(ids[i - 1], ids[i]) << "made later, sorts later";
    }
  }
  // Within one millisecond only the random part differs: 1,000 ids made at once have no more time
  // prefixes than milliseconds went by, and 1,000 distinct random ends.
  std::set<std::string> prefixes, ends;
  const auto from = std::chrono::system_clock::now();
  for (int i = 0; i < 1000; ++i) {
    auto id = connection_id();
    prefixes.insert(id.substr(0, 6));
    ends.insert(id.substr(6));
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now() - from).count();
  EXPECT_LE(prefixes.size(), static_cast<std::size_t>(ms) + 2);
  EXPECT_EQ(ends.size(), 1000u);
}

}  // namespace sg::core
