// Anonymous keys: format checks, fresh keys, and the one-way mapping from key to owner.
#include "gateway/anonymous.hpp"

#include "core/ids.hpp"
#include "core/sha256.hpp"


namespace sg::gateway::anonymous {

bool valid_key(std::string_view key) {
  if (key.size() < 22 || key.size() > 128) return false;
  for (char c : key) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string new_key() { return core::random_id("", 24); }

std::string owner_of(std::string_view key) {
  auto md = core::sha256(key);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(5 + 32);  // held by every connection of this identity: no room to spare
  out = "anon:";
  for (unsigned i = 0; i < 16; ++i) {
    out += hex[md[i] >> 4];
    out += hex[md[i] & 15];
  }
  return out;
}

std::optional<std::string_view> cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    auto semi = header.find(';');
    auto item = header.substr(0, semi);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    auto eq = item.find('=');
    if (eq != std::string_view::npos && item.substr(0, eq) == name) {
      auto v = item.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      return v;
    }
    if (semi == std::string_view::npos) break;
    header.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

std::string set_cookie(std::string_view key, bool secure) {
  // Made once per new identity (every first contact of an anonymous client): one allocation.
  static const std::string attributes = "; Path=/; Max-Age=" + std::to_string(cookie_max_age_s) + "; HttpOnly; SameSite=Lax";
  std::string out;
  out.reserve(cookie_name.size() + 1 + key.size() + attributes.size() + 8);
  out += cookie_name;
  out += '=';
  out += key;
  out += attributes;
  if (secure) out += "; Secure";
  return out;
}

}  // namespace sg::gateway::anonymous
