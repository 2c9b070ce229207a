// Unguessable identifiers for connections, streams, projects and requests.
#pragma once

#include <string>

namespace sg::core {

/// Returns `prefix` followed by `bytes` random bytes in URL-safe base64 (no padding). Thread-safe.
std::string random_id(std::string_view prefix, std::size_t bytes = 12);

/// A new WebSocket connection id, 15 characters, short enough for std::string to keep inline, so
/// the copies a connection's id lives in (its identity, the registry's key, log fields) allocate
/// nothing: the time it was made (6 characters, milliseconds, wrapping every 2.2 years) and 54
/// random bits, in an alphabet of URL-safe characters in ascending byte order. Ids made a
/// millisecond or more apart sort as they were made, so the connection table's rows, keyed by id,
/// are added at the end of its B-tree: a transaction of rows added together writes a page or two,
/// not a page a row. An id names a connection; it grants nothing (the management API that acts on
/// one needs the admin key). Thread-safe.
std::string connection_id();

}  // namespace sg::core
