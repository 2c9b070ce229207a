// Upstream URLs: scheme, host, port and path prefix of a provider's base URL.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sg::provider::httpc {

struct url {
  bool tls = false;
  std::string host;  ///< without brackets for IPv6
  std::uint16_t port = 0;
  std::string path;  ///< the path prefix, never ending in '/' ("" for the root)

  /// "host:port", or just "host" on the scheme's default port; the Host header value.
  [[nodiscard]] std::string authority() const;
  /// The pool key: scheme, host and port.
  [[nodiscard]] std::string origin() const;
};

/// Parses "http[s]://host[:port][/path]"; nullopt for anything else. Pure function.
[[nodiscard]] std::optional<url> parse_url(std::string_view text);

/// True if `host` is an IPv4 or IPv6 literal (no SNI is sent for those); pure function.
[[nodiscard]] bool is_ip_literal(std::string_view host);

}  // namespace sg::provider::httpc
