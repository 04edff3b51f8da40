#include <array>
#include <charconv>

#include "model/state.hpp"
#include "util/numbers.hpp"
#include "pthsafe/value.hpp"

namespace pthsafe {

std::string_view value_kind_name(value_kind k) noexcept {
  static constexpr std::array<std::string_view, 23> names{
      "none", "bool", "int", "float", "complex", "str", "bytes", "tuple", "list", "set", "frozenset",
      "dict", "OrderedDict", "size", "dtype", "device", "layout", "qscheme", "tensor", "object", "global", "storage", "ndarray"};
  static_assert(static_cast<std::size_t>(value_kind::ndarray) + 1 == names.size());
  return names[static_cast<std::size_t>(k)];
}

std::string value::int_decimal() const {
  detail::require(kind_ == value_kind::integer, "value::int_decimal(): requires kind() == integer");
  if (text_size_ == 0) return std::to_string(i_);
  return (small_ & detail::flag_int_raw) ? detail::decimal_from_le_bytes(text()) : std::string(text());
}

const value* value::find(std::string_view key) const noexcept {
  if (kind_ != value_kind::dict && kind_ != value_kind::ordered_dict) return nullptr;
  for (std::size_t i = 0; i + 1 < items_size_; i += 2)
    if (items_[i]->kind_ == value_kind::string && items_[i]->text() == key) return items_[i + 1];
  return nullptr;
}

std::span<const value_attr> value::attrs() const& noexcept {
  if (!attrs_) return {};
  return {attrs_->data, attrs_->size};
}

tensor_view value::as_tensor() const {
  detail::require(kind_ == value_kind::tensor, "value::as_tensor(): requires kind() == tensor");
  return tensor_view(tensor_);
}

}  // namespace pthsafe
