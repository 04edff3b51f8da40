#include "util/crc32.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstddef>

#if defined(__x86_64__)
#include <immintrin.h>
#define PTHSAFE_CRC_FOLD 1
#endif

namespace pthsafe::detail {

std::uint32_t crc32_update_zlib(std::uint32_t crc, std::span<const std::byte> bytes) noexcept {
  uLong c = crc;
  const auto* p = reinterpret_cast<const Bytef*>(bytes.data());
  std::size_t left = bytes.size();
  while (left) {
    const uInt chunk = static_cast<uInt>(std::min<std::size_t>(left, std::size_t{1} << 30));
    c = crc32(c, p, chunk);
    p += chunk;
    left -= chunk;
  }
  return static_cast<std::uint32_t>(c);
}

#if PTHSAFE_CRC_FOLD
namespace {

// Folding constants for the reflected CRC-32 polynomial (x^n mod P for the fold distances, then
// Barrett's mu and P), as published with Intel's "Fast CRC Computation for Generic Polynomials
// Using PCLMULQDQ" and used by every folding implementation of this CRC.
constexpr long long k1 = 0x154442bd4, k2 = 0x1c6e41596;  // fold by 512 bits
constexpr long long k3 = 0x1751997d0, k4 = 0x0ccaa009e;  // fold by 128 bits
constexpr long long k5 = 0x163cd6124;                    // 64 -> 32 bits
constexpr long long p_prime = 0x1db710641, mu = 0x1f7011641;

__attribute__((target("pclmul,sse4.1"))) inline __m128i fold(__m128i x, __m128i k, __m128i data) {
  return _mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x00), _mm_clmulepi64_si128(x, k, 0x11)), data);
}

__attribute__((target("pclmul,sse4.1"))) inline __m128i load(const std::byte* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

// The raw CRC state (not inverted) after n bytes at p; n >= 64 and a multiple of 16.
__attribute__((target("pclmul,sse4.1"))) std::uint32_t fold_bulk(std::uint32_t state, const std::byte* p, std::size_t n) {
  const __m128i k12 = _mm_set_epi64x(k2, k1), k34 = _mm_set_epi64x(k4, k3), k55 = _mm_set_epi64x(0, k5);
  const __m128i poly = _mm_set_epi64x(mu, p_prime), mask32 = _mm_set_epi32(0, 0, 0, -1);
  __m128i x1 = _mm_xor_si128(load(p), _mm_cvtsi32_si128(static_cast<int>(state)));
  __m128i x2 = load(p + 16), x3 = load(p + 32), x4 = load(p + 48);
  p += 64;
  n -= 64;
  for (; n >= 64; p += 64, n -= 64) {
    x1 = fold(x1, k12, load(p));
    x2 = fold(x2, k12, load(p + 16));
    x3 = fold(x3, k12, load(p + 32));
    x4 = fold(x4, k12, load(p + 48));
  }
  x1 = fold(fold(fold(x1, k34, x2), k34, x3), k34, x4);
  for (; n >= 16; p += 16, n -= 16) x1 = fold(x1, k34, load(p));
  // 128 -> 64 bits.
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(x1, k34, 0x10), _mm_srli_si128(x1, 8));
  // 64 -> 32 bits.
  x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, mask32), k55, 0x00), _mm_srli_si128(x1, 4));
  // Barrett reduction to the 32-bit remainder.
  __m128i t = _mm_clmulepi64_si128(_mm_and_si128(x1, mask32), poly, 0x10);
  t = _mm_clmulepi64_si128(_mm_and_si128(t, mask32), poly, 0x00);
  return static_cast<std::uint32_t>(_mm_extract_epi32(_mm_xor_si128(t, x1), 1));
}

bool cpu_folds() noexcept { return __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1"); }
const bool folds = cpu_folds();

}  // namespace

bool crc32_folds() noexcept { return folds; }

std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept {
  const std::size_t bulk = bytes.size() & ~std::size_t{15};
  if (!folds || bulk < 256) return crc32_update_zlib(crc, bytes);  // short: zlib's table is as fast
  // zlib's crc32(c, b) is ~raw(~c, b): the fold works on the raw state.
  const std::uint32_t state = ~fold_bulk(~crc, bytes.data(), bulk);
  return crc32_update_zlib(state, bytes.subspan(bulk));
}
#else
bool crc32_folds() noexcept { return false; }
std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept { return crc32_update_zlib(crc, bytes); }
#endif

}  // namespace pthsafe::detail
