// Address arithmetic on bytes: CIDR membership, forwarded-for walking, /64 grouping, Host matching.
#include "core/net_address.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <stdexcept>

namespace sg::core {
namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

// IPv4-mapped IPv6 (::ffff:a.b.c.d, what a dual-stack socket reports) is the IPv4 client it stands for.
ip::address unmapped(const ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return ip::make_address_v4(ip::v4_mapped, a.to_v6());
  return a;
}

std::optional<ip::address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  auto a = ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return unmapped(a);
}

template <std::size_t N>
void clear_host_bits(std::array<unsigned char, N>& bytes, unsigned prefix) {
  for (std::size_t i = 0; i < N; ++i) {
    unsigned bit = static_cast<unsigned>(i) * 8;
    if (bit >= prefix) bytes[i] = 0;
    else if (prefix - bit < 8) bytes[i] &= static_cast<unsigned char>(0xff << (8 - (prefix - bit)));
  }
}

ip::address masked(const ip::address& a, unsigned prefix) {
  if (a.is_v4()) {
    auto b = a.to_v4().to_bytes();
    clear_host_bits(b, prefix);
    return ip::address_v4(b);
  }
  auto b = a.to_v6().to_bytes();
  clear_host_bits(b, prefix);
  return ip::address_v6(b);
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto comma = s.find(',');
    out.push_back(trim(s.substr(0, comma)));
    if (comma == std::string_view::npos) break;
    s.remove_prefix(comma + 1);
  }
  return out;
}

}  // namespace

bool cidr::contains(const ip::address& a) const {
  auto u = unmapped(a);
  if (u.is_v4() != base.is_v4()) return false;
  return masked(u, prefix) == base;
}

std::optional<cidr> parse_cidr(std::string_view text) {
  text = trim(text);
  auto slash = text.find('/');
  auto a = parse_address(text.substr(0, slash));
  if (!a) return std::nullopt;
  unsigned max = a->is_v4() ? 32 : 128;
  unsigned prefix = max;
  if (slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc{} || end != p.data() + p.size() || prefix > max) return std::nullopt;
    // "::ffff:10.0.0.0/104" names an IPv4 block: keep the IPv4 part of the prefix.
    if (text.substr(0, slash).find(':') != std::string_view::npos && a->is_v4()) {
      if (prefix < 96) return std::nullopt;
      prefix -= 96;
    }
  }
  return cidr{masked(*a, prefix), prefix};
}

std::vector<cidr> parse_cidr_list(std::string_view text, std::string_view option) {
  std::vector<cidr> out;
  if (trim(text).empty()) return out;
  for (auto item : split_commas(text)) {
    if (item.empty()) continue;
    auto c = parse_cidr(item);
    if (!c)
      throw std::invalid_argument("--" + std::string(option) + ": '" + std::string(item) +
                                  "' is not an address or CIDR block (e.g. 10.0.0.0/8, ::1)");
    out.push_back(*c);
  }
  return out;
}

std::optional<ip::address> parse_forwarded_address(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '"' && text.back() == '"') text = text.substr(1, text.size() - 2);
  if (text.empty()) return std::nullopt;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto rest = text.substr(close + 1);
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    return parse_address(text.substr(1, close - 1));
  }
  auto first = text.find(':');
  if (first != std::string_view::npos && text.find(':', first + 1) == std::string_view::npos) {
    // "a.b.c.d:port": only an IPv4 address may carry a port without brackets.
    auto a = parse_address(text.substr(0, first));
    if (a && a->is_v4()) return a;
    return std::nullopt;
  }
  return parse_address(text);
}

std::vector<std::string> forwarded_for_values(std::string_view forwarded) {
  std::vector<std::string> out;
  // Elements are separated by ',', pairs by ';'; a quoted value may hold either, so scan with quotes in mind.
  std::string_view s = forwarded;
  std::size_t i = 0;
  while (i <= s.size()) {
    // One element: up to the next ',' outside quotes.
    std::size_t start = i;
    bool quoted = false;
    while (i < s.size() && (quoted || s[i] != ',')) {
      if (s[i] == '"') quoted = !quoted;
      else if (s[i] == '\\' && quoted && i + 1 < s.size()) ++i;
      ++i;
    }
    auto element = s.substr(start, i - start);
    ++i;
    // Its pairs: up to ';' outside quotes.
    std::size_t j = 0;
    while (j <= element.size()) {
      std::size_t ps = j;
      bool q = false;
      while (j < element.size() && (q || element[j] != ';')) {
        if (element[j] == '"') q = !q;
        ++j;
      }
      auto pair = trim(element.substr(ps, j - ps));
      ++j;
      auto eq = pair.find('=');
      if (eq == std::string_view::npos) continue;
      if (ascii_lower(trim(pair.substr(0, eq))) != "for") continue;
      auto v = trim(pair.substr(eq + 1));
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      out.emplace_back(v);
    }
  }
  return out;
}

ip::address client_address(const ip::address& peer, const std::vector<cidr>& trusted, std::string_view forwarded,
                           std::string_view x_forwarded_for) {
  auto is_trusted = [&](const ip::address& a) {
    return std::any_of(trusted.begin(), trusted.end(), [&](const cidr& c) { return c.contains(a); });
  };
  ip::address client = unmapped(peer);
  if (!is_trusted(client)) return client;
  std::vector<std::string> hops;
  if (!trim(forwarded).empty()) {
    hops = forwarded_for_values(forwarded);
  } else if (!trim(x_forwarded_for).empty()) {
    for (auto h : split_commas(x_forwarded_for)) hops.emplace_back(h);
  }
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    auto a = parse_forwarded_address(*it);
    if (!a) return client;  // "unknown" or garbage: the proxy that reported it is all we know
    client = *a;
    if (!is_trusted(client)) return client;
  }
  return client;  // every hop is a trusted proxy: the left-most one
}

std::string forwarded_proto(std::string_view forwarded, std::string_view x_forwarded_proto) {
  if (!trim(forwarded).empty()) {
    // The last element is the nearest proxy's; its proto= pair, if any.
    auto last = split_commas(forwarded).back();
    for (;;) {
      auto semi = last.find(';');
      auto pair = trim(last.substr(0, semi));
      auto eq = pair.find('=');
      if (eq != std::string_view::npos && ascii_lower(trim(pair.substr(0, eq))) == "proto") {
        auto v = trim(pair.substr(eq + 1));
        if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
        return ascii_lower(v);
      }
      if (semi == std::string_view::npos) break;
      last.remove_prefix(semi + 1);
    }
  }
  if (!trim(x_forwarded_proto).empty()) return ascii_lower(split_commas(x_forwarded_proto).back());
  return {};
}

namespace {
// Dotted decimal, as inet_ntop writes it. Asio's to_string goes through inet_ntop and an
// error_code and costs about 1,900 instructions; every accepted connection writes its peer's.
std::string v4_text(const ip::address_v4& a) {
  auto b = a.to_bytes();
  std::string out;  // at most 15 characters: within the string's own storage
  for (std::size_t i = 0; i < 4; ++i) {
    if (i) out += '.';
    unsigned v = b[i];
    if (v >= 100) out += static_cast<char>('0' + v / 100);
    if (v >= 10) out += static_cast<char>('0' + v / 10 % 10);
    out += static_cast<char>('0' + v % 10);
  }
  return out;
}
}  // namespace

address_names names_of(const ip::address& a) {
  auto u = unmapped(a);
  if (u.is_v4()) {
    address_names n{v4_text(u.to_v4()), {}};
    n.limit_key = n.text;
    return n;
  }
  return {u.to_string(), masked(u, 64).to_string() + "/64"};
}

host_allowlist::host_allowlist(std::string_view configured, std::string_view listen_host, unsigned port,
                               unsigned default_port)
    : default_port_(default_port) {
  if (trim(configured).empty()) {
    std::vector<std::string> names = {"localhost", "127.0.0.1", "[::1]"};
    std::string lh(listen_host);
    if (lh.find(':') != std::string::npos && lh.front() != '[') lh = "[" + lh + "]";
    names.push_back(lh);
    for (auto& n : names) {
      auto e = split(n, 0);
      if (!e) continue;
      e->port = port;
      if (std::none_of(entries_.begin(), entries_.end(), [&](const entry& x) { return x.host == e->host; }))
        entries_.push_back(*e);
    }
    return;
  }
  for (auto item : split_commas(configured)) {
    if (item.empty()) continue;
    if (item == "*") {
      any_ = true;
      continue;
    }
    auto e = split(item, 0);
    if (!e) throw std::invalid_argument("--allowed-hosts: '" + std::string(item) + "' is not a host or host:port");
    entries_.push_back(*e);
  }
}

std::optional<host_allowlist::entry> host_allowlist::split(std::string_view text, unsigned missing_port) {
  text = trim(text);
  if (text.empty()) return std::nullopt;
  entry e;
  std::string_view host = text, port;
  if (text.front() == '[') {
    auto close = text.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    auto a = parse_address(text.substr(1, close - 1));
    if (!a) return std::nullopt;
    host = text.substr(0, close + 1);
    auto rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      port = rest.substr(1);
    }
    // One spelling per IPv6 address: [0:0::1] is [::1].
    e.host = "[" + boost::asio::ip::make_address(std::string(text.substr(1, close - 1))).to_string() + "]";
  } else {
    auto colon = text.find(':');
    if (colon != std::string_view::npos) {
      if (text.find(':', colon + 1) != std::string_view::npos) return std::nullopt;  // bare IPv6: needs brackets
      host = text.substr(0, colon);
      port = text.substr(colon + 1);
    }
    if (host.empty()) return std::nullopt;
    for (char c : host)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' || c == '_')) return std::nullopt;
    if (host.size() > 1 && host.back() == '.') host.remove_suffix(1);
    e.host = ascii_lower(host);
  }
  e.port = missing_port;
  if (!port.empty() || (text.back() == ':')) {
    unsigned p = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || p == 0 || p > 65535)
      return std::nullopt;
    e.port = p;
  }
  return e;
}

bool host_allowlist::allowed(std::string_view host_header) const {
  if (any_) return true;
  auto h = split(host_header, default_port_);
  if (!h) return false;
  return std::any_of(entries_.begin(), entries_.end(),
                     [&](const entry& e) { return e.host == h->host && (e.port == 0 || e.port == h->port); });
}

std::vector<std::string> host_allowlist::describe() const {
  std::vector<std::string> out;
  if (any_) out.emplace_back("*");
  for (auto& e : entries_) out.push_back(e.port ? e.host + ":" + std::to_string(e.port) : e.host);
  return out;
}

}  // namespace sg::core
