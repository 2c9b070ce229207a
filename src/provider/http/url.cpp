// Base-URL parsing on Boost.URL, strict about the two schemes an upstream may use.
#include "provider/http/url.hpp"

#include <boost/asio/ip/address.hpp>
#include <boost/url/parse.hpp>

#include <charconv>

namespace sg::provider::httpc {

std::string url::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if ((tls && port == 443) || (!tls && port == 80)) return h;
  return h + ":" + std::to_string(port);
}

std::string url::origin() const { return std::string(tls ? "https://" : "http://") + authority(); }

bool is_ip_literal(std::string_view host) {
  boost::system::error_code ec;
  boost::asio::ip::make_address(std::string(host), ec);
  return !ec;
}

std::optional<url> parse_url(std::string_view text) {
  auto r = boost::urls::parse_absolute_uri(text);
  if (!r) return std::nullopt;
  auto u = *r;
  url out;
  auto scheme = u.scheme();
  if (scheme == "https") out.tls = true;
  else if (scheme != "http") return std::nullopt;
  if (!u.has_authority() || u.host().empty() || u.has_userinfo()) return std::nullopt;
  out.host = u.host_type() == boost::urls::host_type::ipv6 ? std::string(u.host_address()) : std::string(u.host());
  out.port = out.tls ? 443 : 80;
  if (u.has_port()) {
    auto p = u.port();
    unsigned v = 0;
    auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc{} || end != p.data() + p.size() || v == 0 || v > 65535) return std::nullopt;
    out.port = static_cast<std::uint16_t>(v);
  }
  out.path = std::string(u.encoded_path());
  while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
  return out;
}

}  // namespace sg::provider::httpc
