#include "pthsafe/dtype.hpp"

#include <array>

namespace pthsafe {
namespace {
struct dtype_info { std::string_view name; std::uint8_t size; bool complex; };
// Order = enum order; pinned by the static_assert below.
constexpr std::array<dtype_info, dtype_count> table{{
    {"float64", 8, false}, {"float32", 4, false}, {"float16", 2, false}, {"bfloat16", 2, false},
    {"complex128", 16, true}, {"complex64", 8, true}, {"complex32", 4, true},
    {"int64", 8, false}, {"int32", 4, false}, {"int16", 2, false}, {"int8", 1, false},
    {"uint8", 1, false}, {"uint16", 2, false}, {"uint32", 4, false}, {"uint64", 8, false},
    {"bool", 1, false},
    {"float8_e4m3fn", 1, false}, {"float8_e5m2", 1, false}, {"float8_e4m3fnuz", 1, false},
    {"float8_e5m2fnuz", 1, false}, {"float8_e8m0fnu", 1, false}, {"float4_e2m1fn_x2", 1, false},
    {"qint8", 1, false}, {"quint8", 1, false}, {"qint32", 4, false}, {"quint4x2", 1, false},
    {"quint2x4", 1, false},
    {"bits8", 1, false}, {"bits16", 2, false}, {"bits1x8", 1, false}, {"bits2x4", 1, false},
    {"bits4x2", 1, false},
}};
static_assert(static_cast<int>(dtype::bits4x2) + 1 == dtype_count);
}  // namespace

std::size_t itemsize(dtype t) noexcept { return table[static_cast<std::size_t>(t)].size; }
std::string_view dtype_name(dtype t) noexcept { return table[static_cast<std::size_t>(t)].name; }
bool is_complex(dtype t) noexcept { return table[static_cast<std::size_t>(t)].complex; }
std::optional<dtype> dtype_from_name(std::string_view name) noexcept {
  for (std::size_t i = 0; i < table.size(); ++i)
    if (table[i].name == name) return static_cast<dtype>(i);
  return std::nullopt;
}

}  // namespace pthsafe
