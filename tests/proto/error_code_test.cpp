// The protocol's error codes: each wire name maps back to its code, and each code is a Boost.System
// error code whose message is that name.
#include "proto/error_code.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace sg::proto {
namespace {

TEST(ErrorCode, EveryCodeIsNamedOnceAndIsABoostErrorCode) {
  std::set<std::string> names;
  for (int i = static_cast<int>(error_code::bad_request); i <= static_cast<int>(error_code::internal); ++i) {
    auto c = static_cast<error_code>(i);
    auto name = std::string(to_string(c));
    EXPECT_TRUE(names.insert(name).second) << name;
    EXPECT_EQ(code_named(name), c) << name;
    boost::system::error_code ec = c;  // through is_error_code_enum and make_error_code
    EXPECT_TRUE(ec.failed()) << name;
    EXPECT_EQ(&ec.category(), &protocol_category());
    EXPECT_EQ(ec.message(), name);
    EXPECT_EQ(ec, c);
  }
  EXPECT_EQ(names.size(), 15u);
  EXPECT_FALSE(code_named("ok"));
  EXPECT_FALSE(code_named(""));
  EXPECT_FALSE(code_named("BAD_REQUEST"));
}

}  // namespace
}  // namespace sg::proto
