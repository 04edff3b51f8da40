// pthsafe/dtype.hpp - torch element types, their sizes and names, and 16-bit float element types.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string_view>

#include "pthsafe/export.hpp"

namespace pthsafe {

/// Every dtype a torch checkpoint can hold tensors of.
enum class dtype : std::uint8_t {
  float64, float32, float16, bfloat16,
  complex128, complex64, complex32,
  int64, int32, int16, int8,
  uint8, uint16, uint32, uint64,
  boolean,
  float8_e4m3fn, float8_e5m2, float8_e4m3fnuz, float8_e5m2fnuz, float8_e8m0fnu,
  float4_e2m1fn_x2,
  qint8, quint8, qint32, quint4x2, quint2x4,
  bits8, bits16, bits1x8, bits2x4, bits4x2,
};
inline constexpr int dtype_count = 32;

/// Bytes per element (complex32 = 4, complex128 = 16, packed sub-byte types = 1).
PTHSAFE_API std::size_t itemsize(dtype t) noexcept;
/// torch's name without "torch." ("float32", "bool", "float8_e4m3fn", ...).
PTHSAFE_API std::string_view dtype_name(dtype t) noexcept;
/// Inverse of dtype_name; nullopt when unknown.
PTHSAFE_API std::optional<dtype> dtype_from_name(std::string_view name) noexcept;
/// True for complex types (byte-swapped as two halves).
PTHSAFE_API bool is_complex(dtype t) noexcept;

/// IEEE 754 binary16, stored as its bits. Converts to float exactly.
struct float16 {
  std::uint16_t bits;
  float to_float() const noexcept {
    const std::uint32_t sign = std::uint32_t(bits & 0x8000u) << 16;
    std::uint32_t exp = (bits >> 10) & 0x1fu, man = bits & 0x3ffu, out;
    if (exp == 0x1f) {
      out = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
      out = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
      out = sign;
    } else {  // subnormal: renormalise
      exp = 113;
      while ((man & 0x400u) == 0) { man <<= 1; --exp; }
      out = sign | (exp << 23) | ((man & 0x3ffu) << 13);
    }
    return std::bit_cast<float>(out);
  }
  explicit operator float() const noexcept { return to_float(); }
};

/// bfloat16: the top half of a binary32, stored as its bits. Converts to float exactly.
struct bfloat16 {
  std::uint16_t bits;
  float to_float() const noexcept { return std::bit_cast<float>(std::uint32_t(bits) << 16); }
  explicit operator float() const noexcept { return to_float(); }
};

static_assert(sizeof(float16) == 2 && sizeof(bfloat16) == 2);

}  // namespace pthsafe
