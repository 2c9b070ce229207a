// CIDR membership, the client address behind trusted proxies, /64 grouping and the Host allow-list.
#include "core/net_address.hpp"

#include <gtest/gtest.h>

#include <tuple>

#include <stdexcept>

namespace sg::core {
namespace {

namespace ip = boost::asio::ip;
ip::address addr(const char* s) { return ip::make_address(s); }

std::string client(const char* peer, const std::string& trusted, std::string_view fwd, std::string_view xff) {
  return names_of(client_address(addr(peer), parse_cidr_list(trusted, "trusted-proxies"), fwd, xff)).text;
}

TEST(NetAddress, CidrContains) {
  auto c = parse_cidr("10.1.0.0/16");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(addr("10.1.255.3")));
  EXPECT_FALSE(c->contains(addr("10.2.0.1")));
  EXPECT_TRUE(c->contains(addr("::ffff:10.1.2.3")));  // a dual-stack socket's view of an IPv4 peer
  EXPECT_FALSE(c->contains(addr("::1")));
  auto host_bits = parse_cidr("192.168.1.77/24");  // host bits are cleared, not refused
  ASSERT_TRUE(host_bits);
  EXPECT_TRUE(host_bits->contains(addr("192.168.1.1")));
  auto v6 = parse_cidr("2001:db8:1::/48");
  ASSERT_TRUE(v6);
  EXPECT_TRUE(v6->contains(addr("2001:db8:1:ffff::1")));
  EXPECT_FALSE(v6->contains(addr("2001:db8:2::1")));
  auto single = parse_cidr("127.0.0.1");
  ASSERT_TRUE(single);
  EXPECT_EQ(single->prefix, 32u);
  auto all = parse_cidr("0.0.0.0/0");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->contains(addr("8.8.8.8")));
  EXPECT_FALSE(all->contains(addr("2001:db8::1")));
}

TEST(NetAddress, MalformedCidrsAreRefused) {
  for (auto bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "example.com", "10.0.0.0/8x", "1.2.3.4/-1"})
    EXPECT_FALSE(parse_cidr(bad)) << bad;
  EXPECT_THROW(parse_cidr_list("10.0.0.0/8, nonsense", "trusted-proxies"), std::invalid_argument);
  EXPECT_EQ(parse_cidr_list(" 10.0.0.0/8 , ::1 ", "trusted-proxies").size(), 2u);
  EXPECT_TRUE(parse_cidr_list("", "trusted-proxies").empty());
}

TEST(NetAddress, ForwardingHeadersFromAnUntrustedPeerAreIgnored) {
  EXPECT_EQ(client("203.0.113.5", "", "", "198.51.100.1"), "203.0.113.5");
  EXPECT_EQ(client("203.0.113.5", "10.0.0.0/8", "for=198.51.100.1", "198.51.100.1"), "203.0.113.5");
}

TEST(NetAddress, XForwardedForFromATrustedPeerGivesTheRightMostUntrustedAddress) {
  // The left-most entry is whatever the client claimed; only what our proxies appended is believed.
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", "6.6.6.6, 198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", "6.6.6.6, 198.51.100.7, 10.0.0.9"), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", "198.51.100.7:5123"), "198.51.100.7");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", "2001:db8::7"), "2001:db8::7");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", "[2001:db8::7]:443"), "2001:db8::7");
  // Every hop trusted: the left-most one.
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", "10.9.9.9, 10.0.0.3"), "10.9.9.9");
  // A hop that is no address ends the walk at the proxy that wrote it.
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", "198.51.100.7, garbage"), "10.0.0.2");
  // No header: the proxy itself.
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "", ""), "10.0.0.2");
  // IPv4-mapped peers match IPv4 blocks.
  EXPECT_EQ(client("::ffff:10.0.0.2", "10.0.0.0/8", "", "198.51.100.7"), "198.51.100.7");
}

TEST(NetAddress, ForwardedHeaderIsPreferredAndParsedPerRfc7239) {
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "for=192.0.2.60;proto=http;by=203.0.113.43", "6.6.6.6"), "192.0.2.60");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", R"(for=6.6.6.6, for="[2001:db8:cafe::17]:4711")", ""), "2001:db8:cafe::17");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", R"(For="192.0.2.43:47011", for=10.0.0.7)", ""), "192.0.2.43");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "for=unknown", ""), "10.0.0.2");
  EXPECT_EQ(client("10.0.0.2", "10.0.0.0/8", "for=_hidden, for=198.51.100.1", ""), "198.51.100.1");
  auto v = forwarded_for_values(R"(for="a;b,c";proto=https, by=x;for=1.2.3.4)");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0], "a;b,c");
  EXPECT_EQ(v[1], "1.2.3.4");
}

TEST(NetAddress, ForwardedProtoIsTheNearestProxys) {
  EXPECT_EQ(forwarded_proto("for=1.2.3.4;proto=http, for=5.6.7.8;proto=HTTPS", ""), "https");
  EXPECT_EQ(forwarded_proto("", "http, https"), "https");
  EXPECT_EQ(forwarded_proto("", ""), "");
}

std::string limit_key(const char* a) { return names_of(addr(a)).limit_key; }

TEST(NetAddress, Ipv6ClientsAreGroupedBySlash64) {
  EXPECT_EQ(limit_key("2001:db8:1:2:aaaa:bbbb:cccc:dddd"), "2001:db8:1:2::/64");
  EXPECT_EQ(limit_key("2001:db8:1:2::1"), limit_key("2001:db8:1:2:ffff::9"));
  EXPECT_NE(limit_key("2001:db8:1:2::1"), limit_key("2001:db8:1:3::1"));
  EXPECT_EQ(limit_key("198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(limit_key("::ffff:198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(names_of(addr("::ffff:127.0.0.1")).text, "127.0.0.1");
}

// An address's text and its limit key, for every kind of address.
TEST(NetAddress, NamesOfAnAddressAreItsTextAndItsLimitKey) {
  const std::tuple<const char*, const char*, const char*> cases[] = {
      {"198.51.100.7", "198.51.100.7", "198.51.100.7"},
      {"::ffff:198.51.100.7", "198.51.100.7", "198.51.100.7"},
      {"2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
      {"::1", "::1", "::/64"},
      {"127.0.0.1", "127.0.0.1", "127.0.0.1"}};
  for (auto [a, text, key] : cases) {
    auto n = names_of(addr(a));
    EXPECT_EQ(n.text, text) << a;
    EXPECT_EQ(n.limit_key, key) << a;
  }
  // IPv4 is written by hand: every byte value in every position reads as inet_ntop (Asio) writes it.
  for (unsigned v = 0; v < 256; ++v) {
    for (unsigned pos = 0; pos < 4; ++pos) {
      boost::asio::ip::address_v4::bytes_type b{{9, 99, 100, 0}};
      b[pos] = static_cast<unsigned char>(v);
      boost::asio::ip::address_v4 a4(b);
      auto n = names_of(a4);
      EXPECT_EQ(n.text, a4.to_string());
      EXPECT_EQ(n.limit_key, a4.to_string());
    }
  }
}

TEST(NetAddress, DefaultAllowedHostsAreLoopbackNamesAndTheListenAddressWithThePort) {
  host_allowlist h("", "192.168.5.5", 8080, 80);
  for (auto ok : {"localhost:8080", "LOCALHOST:8080", "127.0.0.1:8080", "[::1]:8080", "[0:0::1]:8080",
                  "192.168.5.5:8080", "localhost.:8080"})
    EXPECT_TRUE(h.allowed(ok)) << ok;
  for (auto no : {"evil.example:8080", "evil.example", "localhost:9090", "localhost", "127.0.0.1", "", "[::1",
                  "localhost:8080/x", "a@localhost:8080", "::1:8080", "localhost:0", "localhost:99999"})
    EXPECT_FALSE(h.allowed(no)) << no;
  // On the scheme's default port, a Host without a port means that port.
  host_allowlist on80("", "127.0.0.1", 80, 80);
  EXPECT_TRUE(on80.allowed("localhost"));
  EXPECT_TRUE(on80.allowed("localhost:80"));
  host_allowlist v6("", "::", 8443, 443);
  EXPECT_TRUE(v6.allowed("[::]:8443"));
}

TEST(NetAddress, ConfiguredAllowedHosts) {
  host_allowlist h("app.example, api.example:8443", "127.0.0.1", 8080, 443);
  EXPECT_TRUE(h.allowed("app.example"));
  EXPECT_TRUE(h.allowed("app.example:8080"));  // no port configured: any port
  EXPECT_TRUE(h.allowed("api.example:8443"));
  EXPECT_FALSE(h.allowed("api.example"));  // means :443
  EXPECT_FALSE(h.allowed("localhost:8080"));  // configuring replaces the defaults
  EXPECT_FALSE(h.allowed("evil.example"));
  host_allowlist any("*", "127.0.0.1", 8080, 80);
  EXPECT_TRUE(any.allowed("evil.example"));
  EXPECT_THROW(host_allowlist("app.example:notaport", "127.0.0.1", 8080, 80), std::invalid_argument);
  EXPECT_THROW(host_allowlist("http://app.example", "127.0.0.1", 8080, 80), std::invalid_argument);
}

}  // namespace
}  // namespace sg::core
