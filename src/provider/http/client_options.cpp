// What a client is configured with and what it reports: options from the environment's proxy
// variables, the NO_PROXY match, and the client's own error codes.
#include "provider/http/http_client.hpp"

#include "core/text.hpp"

#include <stdexcept>

namespace sg::provider::httpc {

namespace {

class client_category_impl final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "sg.httpc"; }
  std::string message(int ev) const override {
    switch (static_cast<client_errc>(ev)) {
      case client_errc::connect_timeout: return "timed out connecting to the upstream";
      case client_errc::first_byte_timeout: return "timed out waiting for the upstream's response";
      case client_errc::idle_timeout: return "the upstream stopped sending mid-response";
      case client_errc::proxy_refused: return "the proxy refused the CONNECT request";
      case client_errc::resolve_empty: return "the upstream host resolved to no address";
    }
    return "unknown client error";
  }
};

}  // namespace

bool bypasses_proxy(const std::vector<std::string>& no_proxy, const std::string& host) {
  auto h = core::ascii_lower(host);
  for (auto& raw : no_proxy) {
    auto e = core::ascii_lower(raw);
    if (e.empty()) continue;
    if (e == "*") return true;
    if (e.front() == '.') e.erase(0, 1);
    if (h == e) return true;
    if (h.size() > e.size() && h.compare(h.size() - e.size(), e.size(), e) == 0 && h[h.size() - e.size() - 1] == '.')
      return true;
  }
  return false;
}

const boost::system::error_category& client_category() noexcept {
  static const client_category_impl cat;
  return cat;
}

bool is_timeout(const error_code& ec) noexcept {
  return ec.category() == client_category() &&
         (ec.value() == static_cast<int>(client_errc::connect_timeout) ||
          ec.value() == static_cast<int>(client_errc::first_byte_timeout) ||
          ec.value() == static_cast<int>(client_errc::idle_timeout));
}

client_options options_from_env(const std::map<std::string, std::string>& env) {
  client_options o;
  auto get = [&](const char* a, const char* b) -> std::string {
    if (auto it = env.find(a); it != env.end() && !it->second.empty()) return it->second;
    if (auto it = env.find(b); it != env.end() && !it->second.empty()) return it->second;
    return {};
  };
  auto proxy = get("HTTPS_PROXY", "https_proxy");
  if (!proxy.empty()) {
    if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;
    if (auto u = parse_url(proxy); u && !u->tls) o.https_proxy = u;
    else throw std::invalid_argument("HTTPS_PROXY must be an http://host:port URL, got '" + proxy + "'");
  }
  auto np = get("NO_PROXY", "no_proxy");
  std::size_t start = 0;
  while (start <= np.size() && !np.empty()) {
    auto comma = np.find(',', start);
    auto item = np.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    while (!item.empty() && item.front() == ' ') item.erase(0, 1);
    while (!item.empty() && item.back() == ' ') item.pop_back();
    if (auto colon = item.rfind(':'); colon != std::string::npos && item.find(':') == colon) item.resize(colon);
    if (!item.empty()) o.no_proxy.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return o;
}

}  // namespace sg::provider::httpc
