// pthsafe/xtensor.hpp - typed, zero-copy xtensor views of loaded tensors.
//
// Separate from the core headers so that only users of xtensor pay for it. The view borrows the
// tensor's bytes: it is valid while the owning checkpoint lives.
#pragma once

#include <complex>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <xtensor/xadapt.hpp>

#include "pthsafe/error.hpp"
#include "pthsafe/tensor.hpp"

namespace pthsafe {

/// The dtype an element type T reads. bool tensors are read as std::uint8_t (0/1): a C++ bool
/// holding any other byte value would be undefined behaviour, and a file controls those bytes.
template <class T> constexpr bool element_matches(dtype d) noexcept {
  if constexpr (std::is_same_v<T, double>) return d == dtype::float64;
  else if constexpr (std::is_same_v<T, float>) return d == dtype::float32;
  else if constexpr (std::is_same_v<T, float16>) return d == dtype::float16;
  else if constexpr (std::is_same_v<T, bfloat16>) return d == dtype::bfloat16;
  else if constexpr (std::is_same_v<T, std::complex<double>>) return d == dtype::complex128;
  else if constexpr (std::is_same_v<T, std::complex<float>>) return d == dtype::complex64;
  else if constexpr (std::is_same_v<T, std::int64_t>) return d == dtype::int64;
  else if constexpr (std::is_same_v<T, std::int32_t>) return d == dtype::int32;
  else if constexpr (std::is_same_v<T, std::int16_t>) return d == dtype::int16;
  else if constexpr (std::is_same_v<T, std::int8_t>) return d == dtype::int8;
  else if constexpr (std::is_same_v<T, std::uint8_t>) return d == dtype::uint8 || d == dtype::boolean;
  else if constexpr (std::is_same_v<T, std::uint16_t>) return d == dtype::uint16;
  else if constexpr (std::is_same_v<T, std::uint32_t>) return d == dtype::uint32;
  else if constexpr (std::is_same_v<T, std::uint64_t>) return d == dtype::uint64;
  else return false;
}

template <class T>
using xtensor_view_t = decltype(xt::adapt(std::declval<const T*>(), std::size_t{}, xt::no_ownership(),
                                          std::declval<std::vector<std::size_t>>(),
                                          std::declval<std::vector<std::ptrdiff_t>>()));

/// A read-only xtensor expression over `t` with its shape and strides (no copy).
/// Errors: type_mismatch when T does not match the dtype (asking float of a bfloat16 tensor),
/// or when the tensor has conj/neg bits (its logical values differ from the stored bytes);
/// invalid_state when no bytes are loaded (metadata mode, meta tensors).
template <class T>
result<xtensor_view_t<T>> as_xtensor(const tensor_view& t) {
  if (!element_matches<T>(t.element_type()))
    return make_error(errc::type_mismatch, "element type does not match dtype " + std::string(dtype_name(t.element_type())));
  if (t.is_conj() || t.is_neg())
    return make_error(errc::type_mismatch, "tensor has a conjugate or negative bit; its stored bytes are not its values");
  const std::byte* p = t.data();
  if (!p && t.numel() > 0) return make_error(errc::invalid_state, "tensor bytes are not loaded");
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<std::ptrdiff_t> strides(t.strides().begin(), t.strides().end());
  // Elements the view may touch, from element 0: validated against the storage at load.
  std::size_t span = t.numel() ? 1 : 0;
  for (std::size_t i = 0; i < shape.size() && t.numel(); ++i) span += (shape[i] - 1) * static_cast<std::size_t>(strides[i]);
  return xt::adapt(reinterpret_cast<const T*>(p), span, xt::no_ownership(), std::move(shape), std::move(strides));
}

}  // namespace pthsafe
