// The container classes of the allowlist, called and built as Python does: OrderedDict and
// Counter (a copy of a mapping or of (key, value) pairs, later keys replacing earlier ones),
// set (duplicates dropped by Python equality), their BUILD (_set_obj_state on the instance
// __dict__), and the inert objects of caller-allowed globals and TorchScript classes.
#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "torch/arg_kinds.hpp"
#include "torch/class_attrs.hpp"
#include "torch/rebuild.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

// dir(dict) | dir(OrderedDict) | dir(Counter): an instance attribute of one of these names
// shadows the method (`keys`, `items`, `values`, `get`, `copy`, ...), so consumers of the same
// mapping disagree on its contents; dunders would change how Python treats the object.
constexpr std::string_view dict_class_attrs[] = {
#include "torch/dict_class_attrs.inc"
};

bool dict_class_defines(std::string_view name) { return class_defines(dict_class_attrs, name); }

error key_budget_spent() { return make_error(errc::limit_exceeded, key_budget_message); }

// Bytes a node-based hash index costs per entry (node, bucket slot, allocator overhead).
constexpr std::uint64_t index_node_bytes = 48;

}  // namespace

result<void> torch_rebuilder::set_obj_state(value& obj, const value& state) {
  const value* dict_state = &state;
  const value* slots = nullptr;
  if (state.kind() == value_kind::tuple) {
    if (state.items().size() != 2) return fail(errc::bad_rebuild_args, "object state tuple must have 2 items");
    dict_state = state.items()[0];
    slots = state.items()[1];
  }
  for (const value* part : {dict_state, slots}) {
    if (!part || part->kind() == value_kind::none) continue;
    if (!is_dict(*part)) return fail(errc::bad_rebuild_args, "object state is not a dict");
    const auto items = part->items();
    for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
      if (items[i]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "attribute name is not a string");
      if (is_dict(obj) && dict_class_defines(items[i]->text()))
        return fail(errc::object_state_refused, "BUILD state sets `" + std::string(items[i]->text().substr(0, 80)) +
                                                    "` on a " + (obj.kind() == value_kind::ordered_dict ? std::string("collections.OrderedDict") : std::string(obj.dict_class())) +
                                                    ", which the class defines (the attribute would shadow it)");
      PTHSAFE_TRY(set_attr(obj, items[i]->text(), items[i + 1]));
    }
  }
  return {};
}

result<value*> torch_rebuilder::call_object(const call& c) {
  const std::string name(c.callable.text());
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::object));
  if (!st_.charge(name.size() + 4 * slot_bytes))  // the name; (args[, state]) in 4 slots
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  va::set_text(st_.mem, *v, name);
  va::push_item(st_.mem, *v, &c.args);
  return v;
}

result<value*> torch_rebuilder::call_mapping(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  const bool ordered = c.g.id == global_id::ordered_dict;
  PTHSAFE_ASSIGN(value* v, alloc(ordered ? value_kind::ordered_dict : value_kind::dict));
  if (!ordered) va::share_text(*v, "collections.Counter");
  if (c.newobj || n == 0) return v;  // __new__ ignores its arguments
  if (n != 1) return fail(errc::bad_rebuild_args, std::string(c.callable.text()) + " takes at most 1 argument");
  const value& src = *a[0];
  std::vector<const value*> out;
  // Copies of a (possibly shared) container are charged before they are made: a 100-byte
  // file can otherwise call OrderedDict(d) on one large dict a thousand times. The copy in
  // the arena has up to twice the slots (it may grow by SETITEMS later).
  if (!st_.charge(src.items().size() * (is_dict(src) ? 2 * slot_bytes : 4 * slot_bytes + index_node_bytes)))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  if (is_dict(src)) {
    out.assign(src.items().begin(), src.items().end());
  } else if (ordered && is_seq(src)) {
    // Keys looked up by hash: 100,000 pairs must not cost 10^10 comparisons.
    std::unordered_multimap<std::uint64_t, std::size_t> index;
    std::uint64_t& budget = st_.key_budget;
    for (const value* pair : src.items()) {
      if (!is_seq(*pair) || pair->items().size() != 2) return fail(errc::bad_rebuild_args, "OrderedDict items must be pairs");
      const value* key = pair->items()[0];
      if (!is_hashable(*key)) return fail(errc::bad_rebuild_args, "unhashable OrderedDict key");
      const std::uint64_t h = key_hash(*key);
      bool dup = false;
      for (auto [lo, hi] = index.equal_range(h); lo != hi && !dup; ++lo)
        if (keys_equal(*out[lo->second], *key, budget)) { out[lo->second + 1] = pair->items()[1]; dup = true; }
      if (budget == 0) return key_budget_spent();
      if (!dup) {
        index.emplace(h, out.size());
        out.push_back(key);
        out.push_back(pair->items()[1]);
      }
    }
  } else {
    return fail(errc::unsupported_feature, std::string(c.callable.text()) + " from a " +
                                               std::string(value_kind_name(src.kind())) + " is not supported");
  }
  if (!va::append(st_.mem, *v, out))
    return fail(errc::limit_exceeded, "limit max_container_items (" + std::to_string(opts_.limits.max_container_items) + ") exceeded");
  return v;
}

result<value*> torch_rebuilder::call_set(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::set));
  if (c.newobj || n == 0) return v;
  if (n != 1) return fail(errc::bad_rebuild_args, "set takes at most 1 argument");
  const value& src = *a[0];
  if (!is_seq(src) && src.kind() != value_kind::set && src.kind() != value_kind::frozenset)
    return fail(errc::bad_rebuild_args, "set needs a sequence");
  if (!st_.charge(src.items().size() * (2 * slot_bytes + index_node_bytes)))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  std::vector<const value*> out;
  std::unordered_multimap<std::uint64_t, const value*> index;
  std::uint64_t& budget = st_.key_budget;
  for (const value* it : src.items()) {
    if (!is_hashable(*it)) return fail(errc::bad_rebuild_args, "unhashable set item");
    const std::uint64_t h = key_hash(*it);
    bool dup = false;
    for (auto [lo, hi] = index.equal_range(h); lo != hi && !dup; ++lo) dup = keys_equal(*lo->second, *it, budget);
    if (budget == 0) return key_budget_spent();
    if (!dup) {
      index.emplace(h, it);
      out.push_back(it);
    }
  }
  if (!va::append(st_.mem, *v, out))
    return fail(errc::limit_exceeded, "limit max_container_items (" + std::to_string(opts_.limits.max_container_items) + ") exceeded");
  return v;
}

result<void> torch_rebuilder::build_mapping(value& inst, const value& state) {
  if (inst.kind() == value_kind::dict && inst.dict_class().empty())
    return fail(errc::pickle_build_refused, "BUILD on a plain dict");
  if (!is_dict(state)) return fail(errc::bad_rebuild_args, "OrderedDict state is not a dict");
  return set_obj_state(inst, state);
}

result<void> torch_rebuilder::build_object(value& inst, value& state) {
  if (inst.items().size() > 1) return fail(errc::pickle_build_refused, "object built twice");
  va::push_item(st_.mem, inst, &state);
  return {};
}

}  // namespace pthsafe::detail
