// Quantized tensors: packed element types and the rebuild of torch._utils._rebuild_qtensor
// (declared on torch_rebuilder in rebuild.hpp).
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

#include <cstdint>
#include <vector>

#include "pthsafe/tensor.hpp"

namespace pthsafe::detail {

/// Element `i` of a loaded 1-D tensor as a double / int64 (floating, integer and bool dtypes;
/// float16 and bfloat16 widened exactly), as torch's quantizer holds it: the negative bit applied
/// after widening, a bool as 0/1. Callers check the dtype first.
double element_as_double(const tensor_view& t, std::uint64_t i) noexcept;
std::int64_t element_as_int(const tensor_view& t, std::uint64_t i) noexcept;

/// Per-channel quantizer values as torch holds them once loaded: scales as float64
/// (per_channel_affine) or rounded to float32 (float qparams); zero points likewise (int64 for
/// per_channel_affine). Empty when the tensor's bytes are not loaded (load_mode::metadata).
std::vector<double> qparam_doubles(const tensor_view& t, bool to_float32);
std::vector<std::int64_t> qparam_ints(const tensor_view& t);

}  // namespace pthsafe::detail
