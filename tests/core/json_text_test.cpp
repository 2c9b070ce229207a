// JSON string literals: escaping, every byte at every offset of the 16-byte scan, invalid UTF-8,
// and which strings are written as they are.
#include "core/json_text.hpp"

#include <boost/json/parse.hpp>
#include <gtest/gtest.h>

#include <string>

namespace sg::core {
namespace {

namespace json = boost::json;

TEST(JsonText, EscapingRoundTrips) {
  std::string tricky = "quote\" back\\ nl\n cr\r tab\t ctl\x01 bell\x07 del\x7f é 日本 🎉";
  std::string out;
  append_json_string(out, tricky);
  EXPECT_EQ(json::parse(out).as_string(), tricky);
  EXPECT_EQ(out.find('\n'), std::string::npos);
}

// Every byte value at every offset of the 16-byte scan, in runs of plain bytes of every length: the
// written string parses back to the input (with U+FFFD for a byte that is not UTF-8 on its own).
TEST(JsonText, EscapingFindsEveryByteAtEveryOffset) {
  std::size_t checked = 0;
  for (int b = 0; b < 256; ++b) {
    for (std::size_t at = 0; at < 40; ++at) {
      std::string in(40, 'a');
      in[at] = static_cast<char>(b);
      std::string out;
      append_json_string(out, in);
      std::string expect = in;
      if (b >= 0x80) expect.replace(at, 1, "\xEF\xBF\xBD");
      ASSERT_EQ(json::parse(out).as_string(), expect) << b << " at " << at;
      ASSERT_EQ(out.find_first_of(std::string("\n\r\t\0", 4)), std::string::npos);
      ++checked;
    }
  }
  EXPECT_EQ(checked, 256u * 40u);
}

TEST(JsonText, InvalidUtf8BecomesReplacementCharacter) {
  std::string out;
  append_json_string(out, std::string("a\xff" "b\xc3", 4));
  EXPECT_EQ(json::parse(out).as_string(), "a\xEF\xBF\xBD" "b\xEF\xBF\xBD");
  out.clear();
  append_json_string(out, "\xed\xa0\x80");  // a UTF-16 surrogate encoded in UTF-8
  EXPECT_EQ(json::parse(out).as_string(), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(JsonText, PlainIsPrintableAsciiWithoutQuoteOrBackslash) {
  EXPECT_TRUE(json_plain(""));
  EXPECT_TRUE(json_plain("st_MOO8mkzDTwDGMgkW and more than sixteen bytes ~!@#$%^&*()"));
  for (int b = 0; b < 256; ++b) {
    std::string s(33, 'a');
    s[20] = static_cast<char>(b);
    const bool plain = b >= 0x20 && b < 0x80 && b != '"' && b != '\\';
    EXPECT_EQ(json_plain(s), plain) << b;
    std::string out;
    append_json_string(out, s);
    EXPECT_EQ(out == "\"" + s + "\"", plain) << b;
  }
}

}  // namespace
}  // namespace sg::core
