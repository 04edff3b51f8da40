// The state torch applies to a rebuilt tensor: `_rebuild_from_type_v2(func, new_type, args, state)`
// and `_rebuild_parameter_with_state(data, requires_grad, hooks, state)` end in
// torch._utils._set_obj_state (torch 2.x), which setattr()s every item of the state on the tensor.
// A name torch's Tensor class does not define lands in the instance __dict__ (an inert
// attribute here). A name it defines goes through that class: a property setter (`data` swaps
// the tensor's storage and geometry, `requires_grad` flips autograd, `real` overwrites values),
// a read-only descriptor (torch raises) or a method the attribute would shadow. pthsafe
// interprets `data`, `requires_grad`, `grad`/`_grad` (None only) and `_backward_hooks` (None or
// empty) with torch's validation, and refuses every other class-defined or dunder name.
#include <array>
#include <algorithm>
#include <complex>
#include <string_view>
#include <unordered_map>

#include "torch/class_attrs.hpp"
#include "torch/rebuild.hpp"
#include "util/keyed_hash.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

constexpr std::string_view class_attrs[] = {
#include "torch/tensor_class_attrs.inc"
};

bool tensor_class_defines(std::string_view name) { return class_defines(class_attrs, name); }

bool is_dict_kind(const value& v) { return v.kind() == value_kind::dict || v.kind() == value_kind::ordered_dict; }

// Python truthiness for the kinds whose truth torch's `if dict_state:` can take without raising.
// nullopt: a kind pthsafe does not decide (tensors raise or depend on their values; objects).
std::optional<bool> truthy(const value& v) {
  switch (v.kind()) {
    case value_kind::none: return false;
    case value_kind::boolean: return v.as_bool();
    case value_kind::integer: return !v.fits_int64() || v.as_int64() != 0;
    case value_kind::floating: return v.as_double() != 0;
    case value_kind::complex: return v.as_complex() != std::complex<double>(0, 0);
    case value_kind::string: case value_kind::bytes: return !v.text().empty();
    case value_kind::tuple: case value_kind::list: case value_kind::set: case value_kind::frozenset:
    case value_kind::dict: case value_kind::ordered_dict: case value_kind::size:
      return !v.items().empty();
    default: return std::nullopt;
  }
}

}  // namespace

bool tensor_state_sets_class_attr(const value& state) noexcept {
  std::array<const value*, 2> parts = {&state, nullptr};
  if (state.kind() == value_kind::tuple && state.items().size() == 2) {
    parts[0] = state.items()[0];
    parts[1] = state.items()[1];
  }
  for (const value* part : parts) {
    if (!part || !is_dict_kind(*part)) continue;
    const auto items = part->items();
    for (std::size_t i = 0; i + 1 < items.size(); i += 2)
      if (items[i]->kind() == value_kind::string && tensor_class_defines(items[i]->text())) return true;
  }
  return false;
}

bool can_require_grad(dtype t) noexcept {
  switch (t) {
    case dtype::float64: case dtype::float32: case dtype::float16: case dtype::bfloat16:
    case dtype::complex128: case dtype::complex64: case dtype::complex32:
    case dtype::float8_e4m3fn: case dtype::float8_e5m2: case dtype::float8_e4m3fnuz: case dtype::float8_e5m2fnuz:
    case dtype::float8_e8m0fnu:
      return true;
    default: return false;
  }
}

result<void> torch_rebuilder::set_attr(value& obj, std::string_view name, const value* v) {
  const auto attrs = obj.attrs();
  // Attribute names are file content: a state of 90,000 names must not cost 90,000^2 / 2 string
  // comparisons, so objects with many attributes get a keyed index.
  constexpr std::size_t index_from = 16;
  auto idx = attr_index_.find(&obj);
  if (idx == attr_index_.end() && attrs.size() >= index_from) {
    if (!st_.charge(64 + attrs.size() * 48))
      return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
    idx = attr_index_.emplace(&obj, attr_map{}).first;
    for (std::size_t i = 0; i < attrs.size(); ++i) idx->second.emplace(attrs[i].first, i);
  }
  if (idx != attr_index_.end()) {
    if (const auto at = idx->second.find(name); at != idx->second.end()) {
      va::attr(obj, at->second).second = v;
      return {};
    }
  } else {
    for (std::size_t i = 0; i < attrs.size(); ++i)
      if (attrs[i].first == name) { va::attr(obj, i).second = v; return {}; }
  }
  // An attribute slot in the arena (the array doubles as it grows: up to 4 slots' worth per
  // attribute with the abandoned copies) and its name.
  if (!st_.charge(4 * sizeof(value_attr) + name.size() + (idx != attr_index_.end() ? 48 + name.size() : 0)))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  va::push_attr(st_.mem, obj, st_.mem.copy(name), v);
  if (idx != attr_index_.end()) idx->second.emplace(std::string(name), obj.attrs().size() - 1);
  return {};
}

result<void> torch_rebuilder::set_tensor_attr(value& t, std::string_view name, const value& v) {
  if (!tensor_class_defines(name)) return set_attr(t, name, &v);
  auto* rec = const_cast<tensor_record*>(va::tensor(t));
  if (name == "requires_grad") {
    if (v.kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "requires_grad must be a bool (torch raises)");
    if (!rec->leaf)
      return fail(errc::bad_rebuild_args, "requires_grad set on a tensor that is no leaf (as_subclass of a tensor that "
                                          "requires grad); torch raises");
    PTHSAFE_TRY(check_requires_grad(*rec, v.as_bool()));
    rec->requires_grad = v.as_bool();
    return {};
  }
  if (name == "data") {
    // Tensor.data = x: x's storage, dtype and geometry replace the tensor's; the tensor keeps
    // its own requires_grad, class and attributes.
    if (v.kind() != value_kind::tensor) return fail(errc::bad_rebuild_args, "Variable data has to be a tensor (torch raises)");
    const tensor_record& src = *va::tensor(v);
    if (src.layout != tensor_layout::strided || rec->layout != tensor_layout::strided || !src.storage || !rec->storage ||
        src.qscheme != quant_scheme::none || rec->qscheme != quant_scheme::none || !src.extra->subclass.empty() ||
        src.device() != rec->device())
      return fail(errc::tensor_state_refused, "state sets `data` to a tensor of another kind or device; not interpreted");
    if (rec->requires_grad && !can_require_grad(src.type))
      return fail(errc::bad_rebuild_args, "data set to a tensor that requires gradients must be floating point or complex dtype");
    const bool rg = rec->requires_grad, param = rec->parameter, leaf = rec->leaf;
    *rec = src;
    rec->requires_grad = rg;
    rec->parameter = param;
    rec->leaf = leaf;
    return {};
  }
  if (name == "grad" || name == "_grad") {
    if (v.kind() == value_kind::none) return {};  // a rebuilt tensor has no gradient: no change
    return fail(errc::tensor_state_refused, "state sets a gradient; pthsafe does not load gradients");
  }
  if (name == "_backward_hooks") {
    if (v.kind() == value_kind::none || (is_dict_kind(v) && v.items().empty())) return {};
    return fail(errc::tensor_state_refused, "state installs backward hooks");
  }
  return fail(errc::tensor_state_refused, "state sets `" + std::string(name) +
                                              "`, which torch's Tensor class defines (property, descriptor or method)");
}

result<void> torch_rebuilder::apply_tensor_state(value& t, const value& state) {
  // torch._utils._set_obj_state: a tuple must be (dict_state, slots_state); each part is
  // applied when truthy, and must then be a dict (anything else raises in `.items()`).
  std::array<const value*, 2> parts = {&state, nullptr};
  if (state.kind() == value_kind::tuple) {
    if (state.items().size() != 2) return fail(errc::bad_rebuild_args, "Invalid serialized state: a tuple state has 2 items");
    parts[0] = state.items()[0];
    parts[1] = state.items()[1];
  }
  for (const value* part : parts) {
    if (!part) continue;
    if (!is_dict_kind(*part)) {
      const auto t_ = truthy(*part);
      if (t_ && !*t_) continue;
      return fail(errc::bad_rebuild_args, "tensor state is not a dict (torch raises)");
    }
    const auto items = part->items();
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
      if (items[i]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "attribute name is not a string (torch raises)");
      PTHSAFE_TRY(set_tensor_attr(t, items[i]->text(), *items[i + 1]));
    }
  }
  return {};
}

// _rebuild_tensor_v2 / _v3's `metadata` (torch 2.x; torch 1.13's _rebuild_tensor_v2 takes six
// arguments and raises TypeError on this form): `if metadata: torch._C._set_tensor_metadata(t,
// metadata)`, which asserts that it is a dict of str to bool (pybind converts None and numbers
// by truth), then sets the conjugate bit (an internal assert on any tensor that is not complex,
// even for False) and the negative bit.
result<void> torch_rebuilder::apply_conj_neg(tensor_record& t, const value& meta) {
  if (!is_dict_kind(meta)) {
    const auto t_ = truthy(meta);
    if (t_ && !*t_) return {};
    return fail(errc::bad_rebuild_args, "tensor metadata is not a dict (torch asserts)");
  }
  const auto items = meta.items();
  for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
    const value& k = *items[i];
    const value& v = *items[i + 1];
    const bool convertible = v.kind() == value_kind::boolean || v.kind() == value_kind::none ||
                             v.kind() == value_kind::integer || v.kind() == value_kind::floating;
    if (k.kind() != value_kind::string || !convertible)
      return fail(errc::bad_rebuild_args, "tensor metadata must map names to bools (torch raises TypeError)");
    const bool on = *truthy(v);
    if (k.text() == "conj") {
      if (!is_complex(t.type))
        return fail(errc::bad_rebuild_args, "conj bit on a " + std::string(dtype_name(t.type)) + " tensor (torch 2.x asserts)");
      t.conj = on;
    } else if (k.text() == "neg") {
      if (on && !neg_readable(t.type))
        return fail(errc::unsupported_feature, "neg bit on a " + std::string(dtype_name(t.type)) +
                                                   " tensor: torch cannot compute its values either");
      t.neg = on;
    } else {
      return fail(errc::unsupported_feature, "tensor metadata key '" + std::string(k.text()) + "' is not supported");
    }
  }
  return {};
}

bool neg_readable(dtype t) noexcept {
  switch (t) {
    case dtype::float64: case dtype::float32: case dtype::float16: case dtype::bfloat16:
    case dtype::float8_e4m3fn: case dtype::float8_e5m2:
    case dtype::complex128: case dtype::complex64: case dtype::complex32:
    case dtype::int64: case dtype::int32: case dtype::int16: case dtype::int8:
    case dtype::uint8: case dtype::uint16: case dtype::uint32: case dtype::uint64:
      return true;
    default: return false;
  }
}

result<void> torch_rebuilder::check_requires_grad(const tensor_record& t, bool requires_grad) {
  if (requires_grad && !can_require_grad(t.type))
    return fail(errc::bad_rebuild_args, "only tensors of floating point and complex dtype can require gradients (torch raises); this one is " +
                                            std::string(dtype_name(t.type)));
  return {};
}

}  // namespace pthsafe::detail
