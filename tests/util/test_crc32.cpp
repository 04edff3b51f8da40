// The folding CRC-32 against zlib's: every length to 2,100 at every alignment to 16, chained
// updates split anywhere, and large buffers.
#include <doctest/doctest.h>

#include <cstdint>
#include <vector>

#include "util/crc32.hpp"

using pthsafe::detail::crc32_update;
using pthsafe::detail::crc32_update_zlib;

namespace {
std::vector<std::byte> noise(std::size_t n, std::uint64_t seed) {
  std::vector<std::byte> b(n);
  for (auto& x : b) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    x = static_cast<std::byte>(seed >> 56);
  }
  return b;
}
}  // namespace

TEST_CASE("crc32_update: zlib's CRC-32 for every length, alignment and starting value") {
  const auto buf = noise(2200, 1);
  for (std::size_t off = 0; off < 16; ++off)
    for (std::size_t n = 0; n + off <= 2116; ++n) {
      const std::span<const std::byte> s(buf.data() + off, n);
      REQUIRE(crc32_update(0, s) == crc32_update_zlib(0, s));
      REQUIRE(crc32_update(0x9e3779b9u, s) == crc32_update_zlib(0x9e3779b9u, s));
    }
  // Known value: CRC-32 of "123456789" is 0xCBF43926, and of a zero-filled 4 KiB block.
  const char* digits = "123456789";
  CHECK(crc32_update(0, std::as_bytes(std::span<const char>(digits, 9))) == 0xCBF43926u);
  const std::vector<std::byte> zeros(4096);
  CHECK(crc32_update(0, zeros) == crc32_update_zlib(0, zeros));
#if defined(__x86_64__)
  // Where the CPU can fold, the comparisons above ran the folding code.
  CHECK(pthsafe::detail::crc32_folds() == (__builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1")));
#endif
}

TEST_CASE("crc32_update: chained over pieces equals one pass, and large buffers match zlib") {
  const auto big = noise((std::size_t{10} << 20) + 7, 2);
  const std::uint32_t whole = crc32_update_zlib(0, big);
  CHECK(crc32_update(0, big) == whole);
  std::uint64_t seed = 3;
  for (int round = 0; round < 50; ++round) {
    std::uint32_t c = 0;
    std::size_t at = 0;
    while (at < big.size()) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      const std::size_t n = std::min<std::size_t>(big.size() - at, (seed >> 40) % (round < 25 ? 5000 : 3000000));
      c = crc32_update(c, std::span<const std::byte>(big.data() + at, n));
      at += n;
    }
    REQUIRE(c == whole);
  }
}
