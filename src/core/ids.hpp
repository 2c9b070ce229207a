// Unguessable identifiers for connections, streams, projects and requests.
#pragma once

#include <string>

namespace sg::core {

/// Returns `prefix` followed by `bytes` random bytes in URL-safe base64 (no padding). Thread-safe.
std::string random_id(std::string_view prefix, std::size_t bytes = 12);

}  // namespace sg::core
