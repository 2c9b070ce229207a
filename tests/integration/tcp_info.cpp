// The kernel's struct tcp_info (linux/tcp.h) is newer than the C library's (netinet/tcp.h), and the
// two headers cannot be included together: this file includes only the kernel's.
#include "integration/tcp_info.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace sg::test {

std::optional<std::uint32_t> data_segments_in(int fd) {
  tcp_info info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return std::nullopt;
  if (len < offsetof(tcp_info, tcpi_data_segs_in) + sizeof info.tcpi_data_segs_in) return std::nullopt;
  return info.tcpi_data_segs_in;
}

}  // namespace sg::test
