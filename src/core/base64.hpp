// Base64 (RFC 4648): the standard alphabet (AWS event payloads) and the URL-safe one (JWS, JWK).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sg::core {

/// Decodes the standard alphabet (+ /); padding optional. nullopt on any other character, a lone
/// trailing character or non-zero trailing bits.
std::optional<std::string> base64_decode(std::string_view in);
/// The same with the URL-safe alphabet (- _).
std::optional<std::string> base64url_decode(std::string_view in);
/// URL-safe, without padding (as JWS writes it).
std::string base64url_encode(std::string_view in);
/// base64url_encode(in) appended to `out`, written in place (one resize, no per-character append).
void base64url_append(std::string& out, std::string_view in);

}  // namespace sg::core
