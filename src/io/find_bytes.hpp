// Every occurrence of a 4-byte pattern in a byte range, found 32 (AVX2) or 16 starting positions
// at a time.
// The end-record search reads the last ~68 KiB of every zip checkpoint before anything else can
// happen; glibc's memmem spends ~3.7 instructions a byte on it (256 k of the ~2 M instructions
// of a 2 GiB checkpoint's mmap-mode open), this well under 1 (bench/NOTES.md 40).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

namespace pthsafe::detail {

namespace find_bytes_detail {

// A block tests the starts i..i+W-1 (whose patterns end by i + W + 2) for the first two bytes;
// the rare starts that match them are then checked whole. `i` is left at the first start not
// yet tested when nothing was found.
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("avx2"))) inline bool scan_avx2(const unsigned char* p, std::size_t n, const std::array<unsigned char, 4>& pat,
                                                      std::size_t& i) {
  const __m256i first = _mm256_set1_epi8(static_cast<char>(pat[0])), second = _mm256_set1_epi8(static_cast<char>(pat[1]));
  for (; n - i >= 35; i += 32) {
    const __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i));
    const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 1));
    auto m = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_and_si256(_mm256_cmpeq_epi8(a, first), _mm256_cmpeq_epi8(b, second))));
    for (; m != 0; m &= m - 1) {
      const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(m));
      if (p[at + 2] == pat[2] && p[at + 3] == pat[3]) {
        i = at;
        return true;
      }
    }
  }
  return false;
}
inline bool have_avx2() noexcept { return __builtin_cpu_supports("avx2"); }
#else
inline bool have_avx2() noexcept { return false; }
#endif

}  // namespace find_bytes_detail

/// The first offset at or after `from` at which the bytes `pat` start in `s`, or s.size() when
/// there is none. Reads only bytes of `s`. `wide`: 32 starts at a time where the CPU has AVX2
/// (checked at run time: the build targets baseline x86-64); false keeps to 16 (tests compare).
inline std::size_t find_next(std::span<const std::byte> s, const std::array<unsigned char, 4>& pat, std::size_t from,
                             bool wide = true) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  const unsigned char c0 = pat[0], c1 = pat[1], c2 = pat[2], c3 = pat[3];
  std::size_t i = from;
  if (i > n) return n;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  if (wide && find_bytes_detail::have_avx2() && find_bytes_detail::scan_avx2(p, n, pat, i)) return i;
#else
  (void)wide;
#endif
#if defined(__SSE2__)  // every x86-64
  const __m128i first = _mm_set1_epi8(static_cast<char>(c0)), second = _mm_set1_epi8(static_cast<char>(c1));
  for (; n - i >= 19; i += 16) {
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + i + 1));
    auto m = static_cast<unsigned>(_mm_movemask_epi8(_mm_and_si128(_mm_cmpeq_epi8(a, first), _mm_cmpeq_epi8(b, second))));
    for (; m != 0; m &= m - 1) {
      const std::size_t at = i + static_cast<std::size_t>(__builtin_ctz(m));
      if (p[at + 2] == c2 && p[at + 3] == c3) return at;
    }
  }
#endif
  for (; n - i >= 4; ++i)
    if (p[i] == c0 && p[i + 1] == c1 && p[i + 2] == c2 && p[i + 3] == c3) return i;
  return n;
}

/// Calls `on(offset)` for every offset of `s` at which the bytes `pat` start, in ascending order
/// (overlapping occurrences included).
template <class F>
void for_each_occurrence(std::span<const std::byte> s, const std::array<unsigned char, 4>& pat, F&& on, bool wide = true) {
  for (std::size_t at = find_next(s, pat, 0, wide); at < s.size(); at = find_next(s, pat, at + 1, wide)) on(at);
}

}  // namespace pthsafe::detail
