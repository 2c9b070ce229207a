// Log lines: one JSON object per line, every kind of field written as given; a line below the level
// writes nothing (its string fields are views, converted only when the line is written).
#include "core/log.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <sstream>
#include <string>

namespace sg::core {
namespace {

// What the calls in `fn` write to stderr (fd 2), read back from a temporary file.
template <class Fn>
std::string stderr_of(Fn&& fn) {
  std::FILE* tmp = std::tmpfile();
  EXPECT_NE(tmp, nullptr);
  int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(tmp), STDERR_FILENO);
  fn();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::rewind(tmp);
  std::string out;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, tmp)) > 0;) out.append(buf, n);
  std::fclose(tmp);
  return out;
}

TEST(Log, EveryKindOfFieldIsWrittenAsGivenAndALineBelowTheLevelIsNot) {
  set_log_level(log_level::info);
  std::string kept = "kept";
  auto line = stderr_of([&] {
    log_info("hello", {{"temporary", std::string("a \"quoted\"\nvalue")},
                       {"string", kept},
                       {"view", std::string_view("a view")},
                       {"literal", "a literal"},
                       {"number", 42},
                       {"negative", -7},
                       {"fraction", 1.5},
                       {"flag", true}});
  });
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line";
  auto o = boost::json::parse(line).as_object();
  EXPECT_EQ(o.at("level"), "info");
  EXPECT_EQ(o.at("msg"), "hello");
  EXPECT_EQ(o.at("temporary"), "a \"quoted\"\nvalue");
  EXPECT_EQ(o.at("string"), "kept");
  EXPECT_EQ(o.at("view"), "a view");
  EXPECT_EQ(o.at("literal"), "a literal");
  EXPECT_EQ(o.at("number").to_number<int>(), 42);
  EXPECT_EQ(o.at("negative").to_number<int>(), -7);
  EXPECT_EQ(o.at("fraction").to_number<double>(), 1.5);
  EXPECT_EQ(o.at("flag"), true);

  set_log_level(log_level::warn);
  EXPECT_EQ(stderr_of([] { log_info("hidden", {{"temporary", std::string(100, 'x')}}); }), "");
  EXPECT_NE(stderr_of([] { log_warn("shown", {{"temporary", std::string(100, 'x')}}); }), "");
  set_log_level(log_level::info);
}

// What the old writer (a boost::json::object, serialized) gave for these fields, kept as the
// contract: key order as given, numbers as written, text escaped, and now invalid UTF-8 made valid.
TEST(Log, ALineIsOneValidJsonObjectWhateverItsText) {
  set_log_level(log_level::info);
  auto line = stderr_of([] {
    log_warn("a \"msg\"\twith\x01control", {{"bad utf8", std::string("a\xff" "b\xc3", 4)},
                                              {"unicode", "\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\x89"},
                                              {"object", boost::json::value{{"k", 1}, {"s", "v"}}},
                                              {"array", boost::json::value{1, 2, 3}},
                                              {"null", boost::json::value(nullptr)},
                                              {"big", std::uint64_t{18446744073709551615ull}},
                                              {"min", std::int64_t{-9223372036854775807ll - 1}},
                                              {"json string", boost::json::value("x\ny")}});
  });
  ASSERT_EQ(line.find('\n'), line.size() - 1) << line;
  auto v = boost::json::parse(line);
  auto& o = v.as_object();
  ASSERT_GE(o.size(), 11u);
  auto it = o.begin();
  EXPECT_EQ((it++)->key(), "ts");
  EXPECT_EQ((it++)->key(), "level");
  EXPECT_EQ((it++)->key(), "msg");
  EXPECT_EQ(it->key(), "bad utf8");
  EXPECT_EQ(o.at("level"), "warn");
  EXPECT_EQ(o.at("msg"), "a \"msg\"\twith\x01control");
  EXPECT_EQ(o.at("bad utf8"), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  EXPECT_EQ(o.at("unicode"), "\xc3\xa9 \xe6\x97\xa5 \xf0\x9f\x8e\x89");
  EXPECT_EQ(o.at("object"), (boost::json::value{{"k", 1}, {"s", "v"}}));
  EXPECT_EQ(o.at("array"), (boost::json::value{1, 2, 3}));
  EXPECT_TRUE(o.at("null").is_null());
  EXPECT_EQ(o.at("big").as_uint64(), 18446744073709551615ull);
  EXPECT_EQ(o.at("min").as_int64(), -9223372036854775807ll - 1);
  EXPECT_EQ(o.at("json string"), "x\ny");
}

// The time is UTC to the millisecond, 2026-12-07T05:45:49.071Z, and is now's: lines a second
// apart (across the per-thread cache of the second) each carry their own.
TEST(Log, TheTimeIsUtcToTheMillisecondAndIsNow) {
  set_log_level(log_level::info);
  auto stamp_of = [] {
    auto before = std::chrono::system_clock::now();
    auto line = stderr_of([] { log_info("tick"); });
    auto after = std::chrono::system_clock::now();
    std::string ts(boost::json::parse(line).as_object().at("ts").as_string());
    EXPECT_EQ(ts.size(), 24u) << ts;
    EXPECT_EQ(ts[4], '-');
    EXPECT_EQ(ts[10], 'T');
    EXPECT_EQ(ts[19], '.');
    EXPECT_EQ(ts[23], 'Z');
    std::tm tm{};
    EXPECT_NE(strptime(ts.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << ts;
    auto ms = std::chrono::milliseconds(timegm(&tm) * 1000LL + std::stoi(ts.substr(20, 3)));
    auto at = std::chrono::system_clock::time_point(ms);
    EXPECT_LE(std::chrono::floor<std::chrono::milliseconds>(before), at) << ts;
    EXPECT_LE(at, after) << ts;
    return at;
  };
  auto first = stamp_of();
  // Wait for the next second by the clock (no sleep): the cached second must move with it.
  while (std::chrono::floor<std::chrono::seconds>(std::chrono::system_clock::now()) ==
         std::chrono::floor<std::chrono::seconds>(first)) {
  }
  auto second = stamp_of();
  EXPECT_GT(std::chrono::floor<std::chrono::seconds>(second), std::chrono::floor<std::chrono::seconds>(first));
}

// A line far longer than a usual one is written whole, and the line after it too.
TEST(Log, ALongLineIsWrittenWholeAndTheNextOneToo) {
  set_log_level(log_level::info);
  std::string big(200 * 1024, 'x');
  big[123456] = '"';
  auto out = stderr_of([&] {
    log_info("big", {{"text", big}});
    log_info("small", {{"n", 1}});
  });
  auto nl = out.find('\n');
  ASSERT_NE(nl, std::string::npos);
  EXPECT_EQ(std::string(boost::json::parse(out.substr(0, nl)).as_object().at("text").as_string()), big);
  EXPECT_EQ(boost::json::parse(out.substr(nl + 1)).as_object().at("msg"), "small");
  EXPECT_EQ(out.find('\n', nl + 1), out.size() - 1);
}

}  // namespace
}  // namespace sg::core
