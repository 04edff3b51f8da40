// pthsafe/diff.hpp - two state_dicts compared name by name: names only on one side, dtype and
// shape changes, and per tensor whether the bytes are identical and the largest absolute
// difference between elements.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "pthsafe/dtype.hpp"
#include "pthsafe/error.hpp"
#include "pthsafe/export.hpp"

namespace pthsafe {

/// A tensor to compare: geometry over element bytes in the caller's memory (little-endian, as
/// every loaded tensor is). Borrowed for the duration of the call.
struct tensor_ref {
  std::string name;
  dtype type = dtype::float32;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  ///< in elements; empty: contiguous
  const std::byte* data = nullptr;    ///< element [0, ..., 0]; may be null when numel is 0
};

struct tensor_change {
  std::string key;
  dtype dtype_a = dtype::float32, dtype_b = dtype::float32;
  std::vector<std::int64_t> shape_a, shape_b;
};

struct tensor_comparison {
  std::string key;
  bool identical = false;  ///< same dtype, shape and element bytes
  /// Largest |a - b| over the elements (complex: the modulus of the difference), computed in
  /// double; nullopt for dtypes without arithmetic here (quantized, packed, float8 variants).
  /// NaN when one side holds a NaN the other does not.
  std::optional<double> max_abs_diff;
};

struct diff_report {
  std::vector<std::string> only_in_a, only_in_b;  ///< in each side's order
  std::vector<tensor_change> changed;             ///< same name, other dtype or shape (A's order)
  std::vector<tensor_comparison> compared;        ///< same name, dtype and shape (A's order)
  /// True when no name is on one side only, nothing changed, and every compared tensor is
  /// identical or (atol > 0) within atol.
  bool same = true;
};

/// Compares `a` and `b` (names unique on each side; a repeated name is an error:
/// save_duplicate_key). `atol`: the largest difference still counted the same (0: bytes must
/// be identical). Cost: one pass over each tensor's elements.
PTHSAFE_API result<diff_report> diff_tensors(std::span<const tensor_ref> a, std::span<const tensor_ref> b, double atol = 0);

}  // namespace pthsafe
