// Base64 against RFC 4648's test vectors (section 10), both alphabets, and the strictness that gives
// one value one encoding.
#include "core/base64.hpp"

#include <gtest/gtest.h>

#include <utility>

namespace sg::core {
namespace {

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_decode(encoded), plain) << encoded;
    EXPECT_EQ(base64url_decode(encoded), plain) << encoded;
    std::string unpadded(encoded);
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    EXPECT_EQ(base64url_encode(plain), unpadded) << plain;
    EXPECT_EQ(base64_decode(unpadded), plain) << unpadded;
    std::string appended = "st_";  // appending keeps what was there
    base64url_append(appended, plain);
    EXPECT_EQ(appended, "st_" + unpadded) << plain;
  }
  // Every byte value, and the URL-safe alphabet's last two characters.
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  EXPECT_EQ(base64url_decode(base64url_encode(all)), all);
  EXPECT_EQ(base64url_encode("\xfb\xff"), "-_8");
}

TEST(Base64, EachAlphabetRefusesTheOthersCharacters) {
  // 0xfb 0xff: "+/8" in the standard alphabet, "-_8" in the URL-safe one.
  EXPECT_EQ(base64_decode("+/8="), "\xfb\xff");
  EXPECT_EQ(base64url_decode("-_8"), "\xfb\xff");
  EXPECT_FALSE(base64_decode("-_8"));
  EXPECT_FALSE(base64url_decode("+/8"));
  EXPECT_FALSE(base64_decode("Zm9v YmFy"));
}

TEST(Base64, ALoneCharacterOrNonCanonicalTrailingBitsAreRefused) {
  EXPECT_FALSE(base64_decode("Z"));
  EXPECT_FALSE(base64_decode("Zm9vY"));
  EXPECT_FALSE(base64_decode("Zh=="));  // "f" is Zg==: the low bits of 'h' are not zero
  EXPECT_FALSE(base64url_decode("Zm9="));  // "fo" is Zm8=
  EXPECT_EQ(base64_decode("Zg"), "f");
}

}  // namespace
}  // namespace sg::core
