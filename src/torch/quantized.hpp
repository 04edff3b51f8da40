// Quantized tensors: packed element types and the rebuild of torch._utils._rebuild_qtensor
// (declared on torch_rebuilder in rebuild.hpp).
#pragma once

#include "model/dtype_facts.hpp"


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
