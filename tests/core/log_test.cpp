// Log lines: one JSON object per line, every kind of field written as given; a line below the level
// writes nothing (its string fields are views, converted only when the line is written).
#include "core/log.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
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

}  // namespace
}  // namespace sg::core
