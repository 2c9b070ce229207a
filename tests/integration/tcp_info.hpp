// What the kernel knows of a TCP socket that the C library's headers do not show.
#pragma once

#include <cstdint>
#include <optional>

namespace sg::test {

/// Segments carrying data that the socket has received (tcpi_data_segs_in); nullopt if the kernel
/// does not report it.
std::optional<std::uint32_t> data_segments_in(int fd);

}  // namespace sg::test
