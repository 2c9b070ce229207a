// Anonymous keys: format, freshness, the owner they map to, and the cookie that carries them.
#include "gateway/anonymous.hpp"

#include <gtest/gtest.h>

#include <set>

namespace sg::gateway::anonymous {
namespace {

TEST(Anonymous, KeyFormat) {
  EXPECT_TRUE(valid_key(std::string(22, 'a')));
  EXPECT_TRUE(valid_key("AZaz09-_AZaz09-_AZaz09-_"));
  EXPECT_FALSE(valid_key(std::string(21, 'a')));  // under 128 bits
  EXPECT_FALSE(valid_key(std::string(129, 'a')));
  EXPECT_FALSE(valid_key("aaaaaaaaaaaaaaaaaaaaaa=="));
  EXPECT_FALSE(valid_key("aaaaaaaaaa aaaaaaaaaaaaaa"));
  EXPECT_FALSE(valid_key("aaaaaaaaaaaaaaaaaaaaaa;b"));
  EXPECT_FALSE(valid_key(""));
}

TEST(Anonymous, FreshKeysAreValidAndDistinct) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto k = new_key();
    EXPECT_TRUE(valid_key(k)) << k;
    EXPECT_EQ(k.size(), 32u);
    seen.insert(k);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(Anonymous, OwnerIsAOneWayFunctionOfTheKey) {
  auto k = new_key();
  EXPECT_EQ(owner_of(k), owner_of(k));
  EXPECT_NE(owner_of(k), owner_of(new_key()));
  EXPECT_EQ(owner_of(k).rfind("anon:", 0), 0u);
  EXPECT_EQ(owner_of(k).size(), 5u + 32u);
  EXPECT_EQ(owner_of(k).find(k), std::string::npos);
  // SHA-256("abc") starts ba7816bf8f01cfea414140de5dae2223.
  EXPECT_EQ(owner_of("abc"), "anon:ba7816bf8f01cfea414140de5dae2223");
}

TEST(Anonymous, CookieHeaderParsing) {
  EXPECT_EQ(cookie_value("sg_anon=abc", "sg_anon").value(), "abc");
  EXPECT_EQ(cookie_value("a=1; sg_anon=xyz; b=2", "sg_anon").value(), "xyz");
  EXPECT_EQ(cookie_value("a=1;sg_anon=\"q\"", "sg_anon").value(), "q");
  EXPECT_FALSE(cookie_value("xsg_anon=1; sg_anonx=2", "sg_anon"));
  EXPECT_FALSE(cookie_value("", "sg_anon"));
}

TEST(Anonymous, SetCookieAttributes) {
  auto plain = set_cookie("KEY", false);
  EXPECT_EQ(plain.rfind("sg_anon=KEY; ", 0), 0u);
  EXPECT_NE(plain.find("; HttpOnly"), std::string::npos);
  EXPECT_NE(plain.find("; SameSite=Lax"), std::string::npos);
  EXPECT_NE(plain.find("; Path=/"), std::string::npos);
  EXPECT_EQ(plain.find("Secure"), std::string::npos);
  EXPECT_NE(set_cookie("KEY", true).find("; Secure"), std::string::npos);
}

}  // namespace
}  // namespace sg::gateway::anonymous
