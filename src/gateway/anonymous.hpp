// Anonymous identities: a random key per browser (cookie) or per program (header), and the owner it maps to.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sg::gateway::anonymous {

/// The cookie a browser keeps its key in, and the header a program sends its key in.
inline constexpr std::string_view cookie_name = "sg_anon";
inline constexpr std::string_view header_name = "X-Streamgate-Anonymous-Key";
/// Lifetime of the cookie: a year, so history survives browser restarts as well as reloads.
inline constexpr long cookie_max_age_s = 365L * 24 * 3600;

/// 22 to 128 characters of URL-safe base64 ([A-Za-z0-9_-]): at least 128 bits when random.
bool valid_key(std::string_view key);
/// A fresh key: 192 random bits from OpenSSL's CSPRNG, 32 characters.
std::string new_key();
/// The owner of what a key's holder creates: "anon:" and 128 bits of SHA-256(key) in hex. The key
/// itself never reaches the store or the logs, so neither can be used to take over an identity.
std::string owner_of(std::string_view key);
/// The value of cookie `name` in a Cookie header ("a=1; b=2"), if present.
std::optional<std::string_view> cookie_value(std::string_view cookie_header, std::string_view name);
/// The Set-Cookie value that gives a browser `key`; `secure` adds Secure (the page came over HTTPS).
std::string set_cookie(std::string_view key, bool secure);

}  // namespace sg::gateway::anonymous
