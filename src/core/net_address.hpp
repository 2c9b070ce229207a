// Client addresses behind proxies, CIDR lists, per-address limit keys and the Host allow-list; no I/O.
#pragma once

#include <boost/asio/ip/address.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sg::core {

/// An address block such as 10.0.0.0/8 or 2001:db8::/32.
struct cidr {
  boost::asio::ip::address base;  // with the host bits cleared
  unsigned prefix = 0;
  /// True when `a` lies in the block; an IPv4-mapped IPv6 address counts as its IPv4 address.
  bool contains(const boost::asio::ip::address& a) const;
};

/// "10.0.0.0/8", "::1/128", or a bare address (a /32 or /128); nullopt when malformed.
std::optional<cidr> parse_cidr(std::string_view text);
/// A comma-separated list of CIDRs; throws std::invalid_argument naming `option` on a bad entry.
std::vector<cidr> parse_cidr_list(std::string_view text, std::string_view option);

/// Parses one address as it appears in X-Forwarded-For or a Forwarded `for=` value: optional quotes,
/// "[v6]" or "[v6]:port", "v4:port", bare v6. Unmapped to IPv4 when IPv4-mapped. nullopt otherwise
/// ("unknown", obfuscated identifiers, garbage).
std::optional<boost::asio::ip::address> parse_forwarded_address(std::string_view text);

/// The `for=` values of RFC 7239 Forwarded header values (all lines joined with ','), in order.
/// A value that is not an address ("unknown", "_hidden") is kept as its text so the caller can stop there.
std::vector<std::string> forwarded_for_values(std::string_view forwarded);

/// The client of a request. `peer` is the socket's remote address. Only when `peer` is in `trusted`
/// are the forwarding headers read: `forwarded` (RFC 7239, preferred when present) or `x_forwarded_for`
/// (comma-separated, all lines joined). The hops are walked from the right, skipping trusted proxies;
/// the first untrusted address is the client. A hop that is not an address ends the walk at the proxy
/// that reported it, so a spoofed left-most entry is never believed.
boost::asio::ip::address client_address(const boost::asio::ip::address& peer, const std::vector<cidr>& trusted,
                                        std::string_view forwarded, std::string_view x_forwarded_for);

/// The scheme the nearest proxy was reached with: the right-most `proto=` of Forwarded, else the right-most
/// X-Forwarded-Proto value, lower case; "" when neither says. Only meaningful from a trusted proxy.
std::string forwarded_proto(std::string_view forwarded, std::string_view x_forwarded_proto);

/// What an address is called: its text, IPv4-mapped IPv6 shown as IPv4; and the key under which
/// it counts for per-address limits, the IPv4 address as text or the /64 of an IPv6 address
/// ("2001:db8:1:2::/64"), since one IPv6 host usually holds a whole /64. An IPv4 address is
/// written as text once.
struct address_names {
  std::string text;
  std::string limit_key;
};
address_names names_of(const boost::asio::ip::address& a);

/// Which Host header values a server answers to (DNS rebinding protection).
class host_allowlist {
 public:
  /// `configured`: comma-separated "host" (any port) or "host:port" / "[v6]:port" entries; "*" allows any.
  /// Empty: the defaults, localhost, 127.0.0.1, [::1] and `listen_host`, each with `port`.
  /// `default_port` is what a Host without a port means (80 for http, 443 for https).
  host_allowlist(std::string_view configured, std::string_view listen_host, unsigned port, unsigned default_port);
  /// True when the Host header value is allowed. Case-insensitive; a trailing dot is ignored.
  bool allowed(std::string_view host_header) const;
  bool any() const { return any_; }
  /// The entries, for the log ("host:port" or "host").
  std::vector<std::string> describe() const;

 private:
  struct entry {
    std::string host;      // lower case; IPv6 in brackets
    unsigned port = 0;     // 0 = any port
  };
  static std::optional<entry> split(std::string_view text, unsigned default_port);
  std::vector<entry> entries_;
  unsigned default_port_;
  bool any_ = false;
};

}  // namespace sg::core
