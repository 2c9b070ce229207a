#include "core/text.hpp"

#include <gtest/gtest.h>

namespace sg::core {
namespace {

// Every byte value: A-Z become a-z, and nothing else changes (bytes of UTF-8 text included).
TEST(Text, AsciiLowerChangesOnlyTheAsciiCapitals) {
  for (int b = 0; b < 256; ++b) {
    std::string one(1, static_cast<char>(b));
    char want = b >= 'A' && b <= 'Z' ? static_cast<char>(b - 'A' + 'a') : static_cast<char>(b);
    EXPECT_EQ(ascii_lower(one), std::string(1, want)) << "byte " << b;
  }
  EXPECT_EQ(ascii_lower("Content-Type: TEXT/Event-Stream; Ünïcode"), "content-type: text/event-stream; Ünïcode");
  EXPECT_EQ(ascii_lower(""), "");
}

}  // namespace
}  // namespace sg::core
