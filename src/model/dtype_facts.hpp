// Facts about element types that the record layer needs (packing of sub-byte quantized types).
#pragma once

#include "pthsafe/dtype.hpp"

namespace pthsafe::detail {

/// Elements stored per byte: 2 for quint4x2, 4 for quint2x4, 1 for every other dtype.
constexpr unsigned values_per_byte(dtype t) noexcept {
  return t == dtype::quint4x2 ? 2u : t == dtype::quint2x4 ? 4u : 1u;
}

/// True for the dtypes a quantized tensor can have (qint8, quint8, qint32, quint4x2, quint2x4).
constexpr bool is_quantized_dtype(dtype t) noexcept {
  return t == dtype::qint8 || t == dtype::quint8 || t == dtype::qint32 || t == dtype::quint4x2 || t == dtype::quint2x4;
}

}  // namespace pthsafe::detail
