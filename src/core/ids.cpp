// Random identifiers from OpenSSL's CSPRNG, so ids double as capabilities.
#include "core/ids.hpp"

#include "core/base64.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace sg::core {

namespace {

// Bytes from OpenSSL's CSPRNG, drawn 4 KiB at a time per thread: one RAND_bytes call (its locks and
// DRBG set-up) costs as much as a connection's other start-up work, so it is paid once per ~300 ids.
// Each byte is handed out once and then wiped.
void random_bytes(unsigned char* out, std::size_t n) {
  struct pool {
    std::array<unsigned char, 4096> bytes{};
    std::size_t used = 4096;
  };
  thread_local pool p;
  while (n > 0) {
    if (p.used == p.bytes.size()) {
      if (RAND_bytes(p.bytes.data(), static_cast<int>(p.bytes.size())) != 1) throw std::runtime_error("RAND_bytes failed");
      p.used = 0;
    }
    auto take = std::min(n, p.bytes.size() - p.used);
    std::memcpy(out, p.bytes.data() + p.used, take);
    OPENSSL_cleanse(p.bytes.data() + p.used, take);
    p.used += take;
    out += take;
    n -= take;
  }
}

}  // namespace

std::string random_id(std::string_view prefix, std::size_t bytes) {
  std::array<unsigned char, 64> raw{};
  if (bytes > raw.size()) bytes = raw.size();
  random_bytes(raw.data(), bytes);
  std::string out;
  out.reserve(prefix.size() + (bytes * 4 + 2) / 3);
  out.append(prefix);
  base64url_append(out, std::string_view(reinterpret_cast<const char*>(raw.data()), bytes));
  return out;
}

std::string connection_id() {
  // 64 URL-safe characters in ascending byte order: a base-64 number written with them sorts as it counts.
  static constexpr char digits[] = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz";
  static_assert(sizeof digits == 65);
  const auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  unsigned char raw[7];
  random_bytes(raw, sizeof raw);
  std::uint64_t random = 0;
  for (auto b : raw) random = random << 8 | b;
  std::string out(15, '-');
  for (int i = 5; i >= 0; --i) out[static_cast<std::size_t>(5 - i)] = digits[(ms >> (6 * i)) & 63];
  for (int i = 0; i < 9; ++i) out[static_cast<std::size_t>(6 + i)] = digits[(random >> (6 * i)) & 63];
  return out;
}

}  // namespace sg::core
