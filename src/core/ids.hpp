// Unguessable identifiers for connections, streams, projects and requests.
#pragma once

#include <string>

namespace sg::core {

/// Returns `prefix` followed by `bytes` random bytes in URL-safe base64 (no padding). Thread-safe.
std::string random_id(std::string_view prefix, std::size_t bytes = 12);

/// A new WebSocket connection id: 88 random bits in 15 characters, short enough for std::string to
/// keep inline, so the copies a connection's id lives in (its identity, the registry's key, log
/// fields) allocate nothing. An id names a connection; it grants nothing (the management API that
/// acts on one needs the admin key). Thread-safe.
inline std::string connection_id() { return random_id("", 11); }

}  // namespace sg::core
