// Overflow-safe arithmetic: every size, count and offset from a file goes through these.
#pragma once

#include <cstdint>
#include <optional>

namespace pthsafe::detail {

/// a + b, or nullopt on overflow.
template <class T>
constexpr std::optional<T> checked_add(T a, T b) noexcept {
  T r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// a * b, or nullopt on overflow.
template <class T>
constexpr std::optional<T> checked_mul(T a, T b) noexcept {
  T r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// True when [off, off+len) lies inside [0, size), written so that nothing can overflow.
constexpr bool range_fits(std::uint64_t off, std::uint64_t len, std::uint64_t size) noexcept {
  return len <= size && off <= size - len;
}

}  // namespace pthsafe::detail
