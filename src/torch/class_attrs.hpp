// Whether a Python class (torch.Tensor, OrderedDict, ...) defines an attribute name, from its
// sorted dir() list (the generated *_class_attrs.inc tables): an instance attribute of such a name
// would shadow a method or property, so every saved state that sets one is refused.
#pragma once

#include <algorithm>
#include <span>
#include <string_view>

namespace pthsafe::detail {

/// True for every dunder and every name in `sorted_dir` (sorted, as the generator writes it).
inline bool class_defines(std::span<const std::string_view> sorted_dir, std::string_view name) {
  if (name.size() >= 4 && name.starts_with("__") && name.ends_with("__")) return true;
  return std::binary_search(sorted_dir.begin(), sorted_dir.end(), name);
}

}  // namespace pthsafe::detail
