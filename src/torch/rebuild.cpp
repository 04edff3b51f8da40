#include "torch/rebuild.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "io/checked.hpp"
#include "pickle/text.hpp"
#include "torch/quantized.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

bool is_int(const value& v) { return v.kind() == value_kind::integer && v.fits_int64(); }
bool is_seq(const value& v) { return v.kind() == value_kind::tuple || v.kind() == value_kind::list; }
bool is_text(const value& v) { return v.kind() == value_kind::string || v.kind() == value_kind::bytes; }
bool is_dict(const value& v) { return v.kind() == value_kind::dict || v.kind() == value_kind::ordered_dict; }

// dir(dict) | dir(OrderedDict) | dir(Counter): an instance attribute of one of these names
// shadows the method (`keys`, `items`, `values`, `get`, `copy`, ...), so consumers of the same
// mapping disagree on its contents; dunders would change how Python treats the object.
constexpr std::string_view dict_class_attrs[] = {
#include "torch/dict_class_attrs.inc"
};

bool dict_class_defines(std::string_view name) {
  if (name.size() >= 4 && name.starts_with("__") && name.ends_with("__")) return true;
  return std::binary_search(std::begin(dict_class_attrs), std::end(dict_class_attrs), name);
}

// torch device strings: "<type>" or "<type>:<index>", type lowercase identifier.
bool valid_device(std::string_view s) {
  const auto colon = s.find(':');
  const std::string_view type = s.substr(0, colon);
  if (type.empty() || type.size() > 64) return false;
  for (char c : type)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) return false;
  if (type[0] >= '0' && type[0] <= '9') return false;
  if (colon == std::string_view::npos) return true;
  const std::string_view idx = s.substr(colon + 1);
  if (idx.empty() || idx.size() > 9) return false;
  for (char c : idx)
    if (c < '0' || c > '9') return false;
  return !(idx.size() > 1 && idx[0] == '0');
}

constexpr std::string_view layouts[] = {"torch.strided", "torch.sparse_coo", "torch.sparse_csr", "torch.sparse_csc",
                                        "torch.sparse_bsr", "torch.sparse_bsc", "torch._mkldnn", "torch.jagged"};

error key_budget_spent() { return make_error(errc::limit_exceeded, key_budget_message); }

// Bytes a node-based hash index costs per entry (node, bucket slot, allocator overhead).
constexpr std::uint64_t index_node_bytes = 48;

}  // namespace

result<void> validate_view(tensor_record& t, std::uint64_t storage_nbytes, const limits& lim) {
  if (t.shape.size() > lim.max_dims)
    return make_error(errc::limit_exceeded, "limit max_dims (" + std::to_string(lim.max_dims) + ") exceeded");
  if (t.shape.size() != t.stride.size())
    return make_error(errc::tensor_bad_geometry, "size has " + std::to_string(t.shape.size()) + " dims, stride " +
                                                     std::to_string(t.stride.size()));
  if (t.offset < 0) return make_error(errc::tensor_bad_geometry, "negative storage offset");
  std::uint64_t numel = 1;
  std::uint64_t span = 0;  // sum of (size_i - 1) * stride_i over non-empty dims
  bool empty = false;
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] < 0) return make_error(errc::tensor_bad_geometry, "negative size in dim " + std::to_string(i));
    if (t.stride[i] < 0) return make_error(errc::tensor_bad_geometry, "negative stride in dim " + std::to_string(i));
    auto n = checked_mul<std::uint64_t>(numel, static_cast<std::uint64_t>(t.shape[i]));
    if (!n || *n > static_cast<std::uint64_t>(INT64_MAX))
      return make_error(errc::tensor_bad_geometry, "number of elements overflows int64");
    numel = *n;
    if (t.shape[i] == 0) empty = true;
  }
  t.numel = numel;
  const std::uint64_t item = itemsize(t.type);
  if (!checked_mul<std::uint64_t>(numel, item))
    return make_error(errc::tensor_bad_geometry, "tensor byte size overflows");
  if (empty || numel == 0) return {};  // torch: an empty view fits any storage
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    const auto term = checked_mul<std::uint64_t>(static_cast<std::uint64_t>(t.shape[i] - 1), static_cast<std::uint64_t>(t.stride[i]));
    const auto sum = term ? checked_add<std::uint64_t>(span, *term) : std::nullopt;
    if (!sum) return make_error(errc::tensor_out_of_bounds, "view extent overflows");
    span = *sum;
  }
  const auto last = checked_add<std::uint64_t>(span, static_cast<std::uint64_t>(t.offset));
  const auto count = last ? checked_add<std::uint64_t>(*last, 1) : std::nullopt;
  auto bytes = count ? checked_mul<std::uint64_t>(*count, item) : std::nullopt;
  if (const unsigned per = values_per_byte(t.type); per > 1 && count) {
    // Packed: elements share bytes. torch's int_repr() also reads ceil(numel / per) bytes from
    // byte `offset` (offset counts bytes for these types), so both extents must fit.
    const std::uint64_t packed = (*count - 1) / per + 1;
    const auto repr_end = checked_add<std::uint64_t>(static_cast<std::uint64_t>(t.offset), (numel - 1) / per + 1);
    bytes = repr_end ? std::optional<std::uint64_t>(std::max(packed, *repr_end)) : std::nullopt;
  }
  if (!bytes || *bytes > storage_nbytes)
    return make_error(errc::tensor_out_of_bounds, "view needs " + (bytes ? std::to_string(*bytes) : std::string("> 2^64")) +
                                                      " bytes, storage has " + std::to_string(storage_nbytes));
  return {};
}

bool int_sequence(const value& v, std::vector<std::int64_t>& out) {
  if (!is_seq(v) && v.kind() != value_kind::size) return false;
  out.clear();
  for (const value* x : v.items()) {
    if (!is_int(*x)) return false;
    out.push_back(x->as_int64());
  }
  return true;
}

result<tensor_record*> torch_rebuilder::new_tensor_record() {
  if (st_.tensors.size() >= opts_.limits.max_tensors)
    return fail(errc::limit_exceeded, "limit max_tensors (" + std::to_string(opts_.limits.max_tensors) + ") exceeded");
  if (!st_.charge(sizeof(tensor_record) + 16 * opts_.limits.max_dims))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  return &st_.new_tensor();
}

result<value*> torch_rebuilder::tensor_value(tensor_record* t) {
  auto v = alloc(value_kind::tensor);
  if (!v) return v;
  va::tensor(**v) = t;
  return *v;
}

error torch_rebuilder::fail(errc code, std::string msg) const {
  return make_error(code, std::move(msg), m_ ? m_->record() : std::string(), m_ ? m_->opcode_offset() : 0);
}

result<value*> torch_rebuilder::alloc(value_kind k) {
  if (!st_.charge(sizeof(value)))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  return &st_.new_value(k);
}

result<value*> torch_rebuilder::persistent_load(value& pid) {
  if (pid.kind() != value_kind::tuple) return fail(errc::pickle_persid_refused, "persistent id is not a tuple");
  const auto it = pid.items();
  if (it.empty() || !is_text(*it[0]) || it[0]->text() != "storage")
    return fail(errc::pickle_persid_refused, "persistent id is not ('storage', ...)");
  // Zip archives write ('storage', class, key, location, numel); legacy streams add view_metadata.
  const std::size_t want = legacy_ ? 6 : 5;
  if (it.size() != want)
    return fail(errc::bad_persistent_id, "storage persistent id must have " + std::to_string(want) + " items");
  const value& cls = *it[1];
  const value& key_v = *it[2];
  const value& loc = *it[3];
  const value& numel_v = *it[4];
  dtype type;
  if (cls.kind() != value_kind::global) return fail(errc::bad_storage_type, "storage type is not a storage class");
  const global_ref g = global_of(cls);
  if (g.id == global_id::storage_class) type = static_cast<dtype>(g.param);
  else if (g.id == global_id::untyped_storage) type = dtype::uint8;
  else return fail(errc::bad_storage_type, std::string(cls.text()) + " is not a storage class");
  // torch keys storages by the key as written (a dict key): 5 and '5' are two storages, both
  // read from data/5 in a zip (f"data/{key}"), and in a legacy stream only the one the key list
  // names receives bytes. The identity keeps them apart; their shared spelling is refused below.
  auto identity = storage_identity(key_v);
  if (!identity) return fail(errc::bad_persistent_id, "storage key is not a str or an int");
  std::string key = key_v.kind() == value_kind::string ? std::string(key_v.text()) : std::to_string(key_v.as_int64());
  // TorchScript constants live in constants/<key>: their keys are kept distinct from data/<key>.
  if (prefix_ != "data/") {
    key = prefix_ + key;
    *identity = prefix_ + *identity;
  }
  if (!is_text(loc) || !valid_device(loc.text())) return fail(errc::bad_device, "invalid storage location");
  if (!is_int(numel_v) || numel_v.as_int64() < 0) return fail(errc::bad_persistent_id, "storage numel is not a non-negative int");
  const auto nbytes = checked_mul<std::uint64_t>(static_cast<std::uint64_t>(numel_v.as_int64()), itemsize(type));
  if (!nbytes) return fail(errc::bad_persistent_id, "storage numel * itemsize overflows");

  storage_record* rec;
  if (const auto found = by_key_.find(*identity); found != by_key_.end()) {
    rec = found->second;
    if (rec->alias_of) return fail(errc::bad_persistent_id, "storage key '" + key + "' already names a view of another storage");
    if (rec->type != type || rec->nbytes != *nbytes)
      return fail(errc::storage_dtype_conflict, "storage '" + key + "' referenced with two different types or sizes");
  } else {
    if (!st_.charge(sizeof(storage_record) + 4 * key.size() + 160))
      return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
    if (const auto [shown, fresh] = shown_key_.emplace(key, *identity); !fresh && shown->second != *identity)
      return fail(errc::bad_persistent_id, "storage keys " + key + " (int) and '" + key +
                                                   "' (str) are two storages to torch but one name in pthsafe's output");
    if (!zip_ && placeholders_) {
      st_.storages.emplace_back();
      rec = &st_.storages.back();
      rec->key = st_.mem.copy(key);
      rec->type = type;
      rec->nbytes = *nbytes;
      by_key_.emplace(*identity, rec);
      auto v = alloc(value_kind::storage);
      if (!v) return v;
      va::share_text(**v, loc.text());
      va::storage(**v) = rec;
      return *v;
    }
    std::optional<std::size_t> entry;
    std::string_view record;
    if (!legacy_) {  // legacy storages' bytes follow the pickles; read_legacy locates them
      if (!zip_) return fail(errc::missing_record, "persistent id in a pickle without an archive");
      const std::string rel = prefix_ == "data/" ? "data/" + key : key;
      entry = zip_->find(rel);
      if (!entry) return fail(errc::missing_record, "record " + std::string(zip_->root()) + "/" + rel + " is missing");
      const auto& e = zip_->entries()[*entry];
      if (e.uncomp_size != *nbytes)
        return fail(errc::storage_size_mismatch, "record " + std::string(e.name) + " has " + std::to_string(e.uncomp_size) +
                                                     " bytes, persistent id says " + std::to_string(*nbytes));
      record = e.name;
    }
    st_.storages.emplace_back();
    rec = &st_.storages.back();
    rec->key = st_.mem.copy(key);
    rec->record = record;
    rec->type = type;
    rec->nbytes = *nbytes;
    rec->entry = entry;
    by_key_.emplace(*identity, rec);
  }
  if (legacy_ && it[5]->kind() != value_kind::none) {
    auto view = legacy_view(*rec, *it[5]);
    if (!view) return std::move(view).error_value();
    rec = *view;
  }
  auto v = alloc(value_kind::storage);
  if (!v) return v;
  va::share_text(**v, loc.text());  // the location recorded for this reference
  va::storage(**v) = rec;
  return *v;
}

result<value*> torch_rebuilder::make_tensor(const value& storage, const value& offset, const value& size,
                                            const value& stride, bool has_dtype, dtype type) {
  if (storage.kind() != value_kind::storage) return fail(errc::bad_rebuild_args, "tensor storage is not a storage");
  storage_record* rec = va::storage(storage);
  if (!is_int(offset)) return fail(errc::bad_rebuild_args, "storage offset is not an int");
  if (!(is_seq(size) || size.kind() == value_kind::size) || !(is_seq(stride) || stride.kind() == value_kind::size))
    return fail(errc::bad_rebuild_args, "size and stride must be tuples");
  if (st_.tensors.size() >= opts_.limits.max_tensors)
    return fail(errc::limit_exceeded, "limit max_tensors (" + std::to_string(opts_.limits.max_tensors) + ") exceeded");
  if (size.items().size() > opts_.limits.max_dims || stride.items().size() > opts_.limits.max_dims)
    return fail(errc::limit_exceeded, "limit max_dims (" + std::to_string(opts_.limits.max_dims) + ") exceeded");
  tensor_record t;
  t.type = has_dtype ? type : rec->type;
  if (has_dtype && rec->type != dtype::uint8)
    return fail(errc::bad_rebuild_args, "_rebuild_tensor_v3 needs an untyped storage");
  t.offset = offset.as_int64();
  // The record and its dims live in the arena: charged before they are made.
  if (!st_.charge(sizeof(tensor_record) + sizeof(std::int64_t) * (size.items().size() + stride.items().size())))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  t.shape = {st_.mem.make_array<std::int64_t>(size.items().size()), size.items().size()};
  t.stride = {st_.mem.make_array<std::int64_t>(stride.items().size()), stride.items().size()};
  for (std::size_t i = 0; i < t.shape.size(); ++i) {
    if (!is_int(*size.items()[i])) return fail(errc::bad_rebuild_args, "size item is not an int");
    t.shape[i] = size.items()[i]->as_int64();
  }
  for (std::size_t i = 0; i < t.stride.size(); ++i) {
    if (!is_int(*stride.items()[i])) return fail(errc::bad_rebuild_args, "stride item is not an int");
    t.stride[i] = stride.items()[i]->as_int64();
  }
  t.device = storage.text();  // the storage value's text, in the arena
  t.storage = rec;
  if (auto r = validate_view(t, rec->nbytes, opts_.limits); !r) {
    error e = std::move(r).error_value();
    return fail(e.code, e.message + " (storage '" + std::string(rec->key) + "')");
  }
  tensor_record& out = st_.new_tensor();
  out = t;
  auto v = alloc(value_kind::tensor);
  if (!v) return v;
  va::tensor(**v) = &out;
  return *v;
}

std::optional<std::string> torch_rebuilder::storage_identity(const value& key) {
  if (key.kind() == value_kind::string) return "s" + std::string(key.text());
  if (is_int(key)) return "i" + std::to_string(key.as_int64());
  return std::nullopt;
}

result<value*> torch_rebuilder::copy_tensor(const value& src, bool keep_attrs) {
  if (st_.tensors.size() >= opts_.limits.max_tensors)
    return fail(errc::limit_exceeded, "limit max_tensors (" + std::to_string(opts_.limits.max_tensors) + ") exceeded");
  std::uint64_t cost = sizeof(tensor_record) + 16 * value_access::tensor(src)->shape.size();
  if (keep_attrs)
    for (const auto& [k, v] : src.attrs()) cost += sizeof(src.attrs()[0]) + k.size();
  if (!st_.charge(cost))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  tensor_record& out = st_.new_tensor();
  out = *va::tensor(src);
  out.shape = st_.copy_dims(out.shape);  // a record owns its dims: never shared with another
  out.stride = st_.copy_dims(out.stride);
  auto v = alloc(value_kind::tensor);
  if (!v) return v;
  va::tensor(**v) = &out;
  if (keep_attrs)
    for (const auto& [name, val] : src.attrs()) va::push_attr(st_.mem, **v, name, val);
  return *v;
}

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
      if (auto r = set_attr(obj, items[i]->text(), items[i + 1]); !r) return r;
    }
  }
  return {};
}

result<value*> torch_rebuilder::rebuild_from_type_v2(value& args) {
  const auto a = args.items();
  if (a.size() != 4) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 takes 4 arguments");
  value& func = const_cast<value&>(*a[0]);
  const value& new_type = *a[1];
  value& inner_args = const_cast<value&>(*a[2]);
  if (inner_args.kind() != value_kind::tuple) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 args is not a tuple");
  auto built = reduce(func, inner_args);
  if (!built) return built;
  value* ret = *built;
  if (ret->kind() != value_kind::tensor) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 did not build a tensor");
  if (new_type.kind() != value_kind::global) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 type is not a class");
  const global_id t = global_of(new_type).id;
  if (t == global_id::caller_allowed) {
    // A class the caller admitted: its __setstate__ is unknown, so the state stays inert.
    if (auto r = set_obj_state(*ret, *a[3]); !r) return std::move(r).error_value();
    return ret;
  }
  if (t == global_id::tensor_class)  // torch.FloatTensor & co. are no Tensor subclasses
    return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 to " + std::string(new_type.text()) +
                                            ": as_subclass needs a Tensor subclass (torch raises)");
  if (t != global_id::parameter && t != global_id::tensor)
    return fail(errc::pickle_call_refused, "_rebuild_from_type_v2 to " + std::string(new_type.text()) + " is refused");
  // `if type(ret) is not new_type: ret = ret.as_subclass(new_type)`: a new object over the same
  // data (autograd flag kept, Python attributes not).
  const bool is_param = va::tensor(*ret)->parameter;
  // torch 1.13's _rebuild_from_type_v2 starts with `if new_type is Tensor: return func(*args)`:
  // the state is dropped and a Parameter stays a Parameter. torch 2.x applies both, so when the
  // state sets a class attribute (`data`: other weights; `requires_grad`) or func built a
  // Parameter, the two versions return different tensors. Current torch is what pthsafe reads;
  // the gate says once per pickle that older torch reads something else. (A state of plain
  // Python attributes only loses those attributes in 1.13: no warning.)
  if (t == global_id::tensor && (is_param || tensor_state_sets_class_attr(*a[3])) && !warned_state_version_) {
    warned_state_version_ = true;
    st_.warnings.push_back((m_ ? m_->record() : std::string()) + "@" + std::to_string(m_ ? m_->opcode_offset() : 0) +
                           ": tensor state applied by _rebuild_from_type_v2 to torch.Tensor: torch 2.x applies it, "
                           "torch 1.13 returns func(*args) unchanged and reads another object");
  }
  if (is_param != (t == global_id::parameter)) {
    auto copy = copy_tensor(*ret, false);
    if (!copy) return copy;
    ret = *copy;
    auto* rec = const_cast<tensor_record*>(va::tensor(*ret));
    rec->parameter = t == global_id::parameter;
    if (rec->requires_grad) rec->leaf = false;  // as_subclass is an alias: a view in the graph
  }
  // torch 2.x applies the state whatever the type (torch 1.13's weights_only unpickler refuses
  // this function altogether; its full unpickler drops the state, warned above).
  if (auto r = apply_tensor_state(*ret, *a[3]); !r) return std::move(r).error_value();
  return ret;
}

result<value*> torch_rebuilder::reduce(value& callable, value& args) {
  if (callable.kind() != value_kind::global)
    return fail(errc::pickle_call_refused, "REDUCE on a " + std::string(value_kind_name(callable.kind())) + ", which is not callable");
  const global_ref g = global_of(callable);
  const auto a = args.items();
  const std::size_t n = a.size();
  switch (g.id) {
    case global_id::rebuild_tensor:
      if (n != 4) return fail(errc::bad_rebuild_args, "_rebuild_tensor takes 4 arguments");
      return make_tensor(*a[0], *a[1], *a[2], *a[3], false, dtype::uint8);
    case global_id::rebuild_tensor_v2:
    case global_id::rebuild_tensor_v3: {
      const bool v3 = g.id == global_id::rebuild_tensor_v3;
      const std::size_t base = v3 ? 7 : 6;
      if (n != base && n != base + 1)
        return fail(errc::bad_rebuild_args, std::string(callable.text()) + " takes " + std::to_string(base) + " or " +
                                                std::to_string(base + 1) + " arguments");
      dtype type = dtype::uint8;
      if (v3) {
        if (a[6]->kind() != value_kind::dtype || value_access::i(const_cast<value&>(*a[6])) < 0)
          return fail(errc::bad_dtype, "_rebuild_tensor_v3 dtype is not a tensor dtype");
        type = a[6]->as_dtype();
      }
      if (a[4]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "requires_grad is not a bool");
      auto t = make_tensor(*a[0], *a[1], *a[2], *a[3], v3, type);
      if (!t) return t;
      auto* rec = const_cast<tensor_record*>(va::tensor(**t));
      if (auto r = check_requires_grad(*rec, a[4]->as_bool()); !r) return std::move(r).error_value();
      rec->requires_grad = a[4]->as_bool();
      if (n == base + 1)
        if (auto r = apply_conj_neg(*rec, *a[base]); !r) return std::move(r).error_value();
      // tensor._backward_hooks = backward_hooks: torch.save writes an empty OrderedDict; hooks
      // would be installed on the loaded tensor.
      if (const value& hooks = *a[5]; !(hooks.kind() == value_kind::none || (is_dict(hooks) && hooks.items().empty())))
        return fail(errc::tensor_state_refused, std::string(callable.text()) + " installs backward hooks");
      return t;
    }
    case global_id::rebuild_parameter:
    case global_id::rebuild_parameter_with_state: {
      const bool with_state = g.id == global_id::rebuild_parameter_with_state;
      if (n != (with_state ? 4u : 3u)) return fail(errc::bad_rebuild_args, std::string(callable.text()) + ": wrong argument count");
      if (a[0]->kind() != value_kind::tensor || a[1]->kind() != value_kind::boolean)
        return fail(errc::bad_rebuild_args, "Parameter needs a tensor and a bool");
      if (auto r = check_requires_grad(*va::tensor(*a[0]), a[1]->as_bool()); !r) return std::move(r).error_value();
      // param._backward_hooks = backward_hooks (then, with state, _set_obj_state(param, state)).
      if (const value& hooks = *a[2]; !(hooks.kind() == value_kind::none || (is_dict(hooks) && hooks.items().empty())))
        return fail(errc::tensor_state_refused, std::string(callable.text()) + " installs backward hooks");
      auto p = copy_tensor(*a[0], false);  // Parameter(data) is a new object
      if (!p) return p;
      auto* rec = const_cast<tensor_record*>(va::tensor(**p));
      rec->parameter = true;
      rec->leaf = true;  // Parameter(data) detaches
      rec->requires_grad = a[1]->as_bool();
      if (with_state)
        if (auto r = apply_tensor_state(**p, *a[3]); !r) return std::move(r).error_value();
      return p;
    }
    case global_id::rebuild_from_type_v2: return rebuild_from_type_v2(args);
    case global_id::rebuild_qtensor: return rebuild_qtensor(args);
    case global_id::rebuild_sparse_tensor: return rebuild_sparse(args, false);
    case global_id::rebuild_sparse_csr_tensor: return rebuild_sparse(args, true);
    case global_id::rebuild_meta_tensor_no_storage: return rebuild_meta(args);
    case global_id::rebuild_wrapper_subclass: return rebuild_wrapper_subclass(args);
    case global_id::rebuild_device_tensor_from_cpu_tensor: return rebuild_device_from_cpu(args);
    case global_id::rebuild_device_tensor_from_numpy:
      return fail(errc::pickle_call_refused, std::string(callable.text()) + " needs numpy arrays; refused by policy");
    case global_id::jit_build_list:
      // torch.jit._pickle.build_*list(data) returns data.
      if (n != 1 || a[0]->kind() != value_kind::list) return fail(errc::bad_rebuild_args, std::string(callable.text()) + " needs one list");
      return const_cast<value*>(a[0]);
    case global_id::jit_restore_type_tag:
      // restore_type_tag(value, type_str) returns value: the tag only matters to TorchScript.
      if (n != 2 || a[1]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "restore_type_tag needs (value, str)");
      return const_cast<value*>(a[0]);
    default: return call_class(g, callable, args, false);
  }
}

result<value*> torch_rebuilder::newobj(value& cls, value& args) {
  if (cls.kind() != value_kind::global)
    return fail(errc::pickle_call_refused, "NEWOBJ on a " + std::string(value_kind_name(cls.kind())) + ", which is not a class");
  return call_class(global_of(cls), cls, args, true);
}

// Calls (REDUCE) or __new__ (NEWOBJ) of the allowed classes, with the semantics Python gives them.
result<value*> torch_rebuilder::call_class(global_ref g, value& callable, value& args, bool newobj) {
  const auto a = args.items();
  const std::size_t n = a.size();
  const std::string name(callable.text());
  auto refuse = [&] {
    return fail(errc::pickle_call_refused, std::string(newobj ? "NEWOBJ" : "REDUCE") + " on " + name + " is refused");
  };
  switch (g.id) {
    case global_id::caller_allowed:
    case global_id::torchscript_class: {
      auto v = alloc(value_kind::object);
      if (!v) return v;
      if (!st_.charge(name.size() + 4 * sizeof(value*)))  // the name; (args[, state]) in 4 slots
        return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
      va::set_text(st_.mem, **v, name);
      va::push_item(st_.mem, **v, &args);
      return v;
    }
    case global_id::ordered_dict:
    case global_id::counter: {
      auto v = alloc(g.id == global_id::ordered_dict ? value_kind::ordered_dict : value_kind::dict);
      if (!v) return v;
      if (g.id == global_id::counter) va::share_text(**v, "collections.Counter");
      if (newobj || n == 0) return v;  // __new__ ignores its arguments
      if (n != 1) return fail(errc::bad_rebuild_args, name + " takes at most 1 argument");
      const value& src = *a[0];
      std::vector<const value*> out;
      // Copies of a (possibly shared) container are charged before they are made: a 100-byte
      // file can otherwise call OrderedDict(d) on one large dict a thousand times. The copy in
      // the arena has up to twice the slots (it may grow by SETITEMS later).
      if (!st_.charge(src.items().size() * (is_dict(src) ? 2 * sizeof(value*) : 4 * sizeof(value*) + index_node_bytes)))
        return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
      if (is_dict(src)) {
        out.assign(src.items().begin(), src.items().end());
      } else if (g.id == global_id::ordered_dict && is_seq(src)) {
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
        return fail(errc::unsupported_feature, name + " from a " + std::string(value_kind_name(src.kind())) + " is not supported");
      }
      if (!va::append(st_.mem, **v, out))
        return fail(errc::limit_exceeded, "limit max_container_items (" + std::to_string(opts_.limits.max_container_items) + ") exceeded");
      return v;
    }
    case global_id::set: {
      auto v = alloc(value_kind::set);
      if (!v) return v;
      if (newobj || n == 0) return v;
      if (n != 1) return fail(errc::bad_rebuild_args, "set takes at most 1 argument");
      const value& src = *a[0];
      if (!is_seq(src) && src.kind() != value_kind::set && src.kind() != value_kind::frozenset)
        return fail(errc::bad_rebuild_args, "set needs a sequence");
      if (!st_.charge(src.items().size() * (2 * sizeof(value*) + index_node_bytes)))
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
      if (!va::append(st_.mem, **v, out))
        return fail(errc::limit_exceeded, "limit max_container_items (" + std::to_string(opts_.limits.max_container_items) + ") exceeded");
      return v;
    }
    case global_id::complex: {
      if (n > 2) return fail(errc::bad_rebuild_args, "complex takes at most 2 arguments");
      double parts[2] = {0, 0};
      for (std::size_t i = 0; i < n; ++i) {
        const value& x = *a[i];
        if (x.kind() == value_kind::floating) parts[i] = x.as_double();
        else if (x.kind() == value_kind::boolean) parts[i] = x.as_bool();
        else if (is_int(x)) parts[i] = static_cast<double>(x.as_int64());
        else return fail(errc::bad_rebuild_args, "complex parts must be real numbers");
      }
      auto v = alloc(value_kind::complex);
      if (!v) return v;
      va::f(**v) = parts[0];
      va::g(**v) = parts[1];
      return v;
    }
    case global_id::size: {
      if (n != 1 || !(is_seq(*a[0]) || a[0]->kind() == value_kind::size)) return fail(errc::bad_rebuild_args, "torch.Size needs a sequence");
      for (const value* it : a[0]->items())
        if (!is_int(*it)) return fail(errc::bad_rebuild_args, "torch.Size items must be ints");
      if (!st_.charge(a[0]->items().size() * sizeof(value*)))
        return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
      auto v = alloc(value_kind::size);
      if (!v) return v;
      if (!va::set_items(st_.mem, **v, a[0]->items()))
        return fail(errc::limit_exceeded, "limit max_container_items (" + std::to_string(opts_.limits.max_container_items) + ") exceeded");
      return v;
    }
    case global_id::device: {
      if (newobj) return refuse();
      std::string text;
      if (n == 1 && a[0]->kind() == value_kind::string) {
        text = std::string(a[0]->text());
      } else if (n == 2 && a[0]->kind() == value_kind::string && is_int(*a[1]) && a[1]->as_int64() >= 0) {
        text = std::string(a[0]->text()) + ":" + std::to_string(a[1]->as_int64());
      } else {
        return fail(errc::bad_device, "torch.device needs (type[, index])");
      }
      if (!valid_device(text)) return fail(errc::bad_device, "invalid device '" + text + "'");
      auto v = alloc(value_kind::device);
      if (!v) return v;
      va::set_text(st_.mem, **v, text);
      return v;
    }
    case global_id::get_layout: {
      if (newobj) return refuse();
      if (n != 1 || a[0]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "_get_layout needs a name");
      for (auto l : layouts)
        if (l == a[0]->text()) {
          auto v = alloc(value_kind::layout);
          if (!v) return v;
          va::share_text(**v, l);
          return v;
        }
      return fail(errc::bad_rebuild_args, "unknown layout '" + std::string(a[0]->text()) + "'");
    }
    case global_id::codecs_encode: {
      if (newobj) return refuse();
      if (n < 1 || n > 3 || a[0]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "_codecs.encode needs a str");
      std::string enc = n >= 2 && a[1]->kind() == value_kind::string ? std::string(a[1]->text()) : std::string("utf-8");
      if (n >= 2 && a[1]->kind() != value_kind::string) return fail(errc::bad_rebuild_args, "encoding is not a str");
      if (n == 3 && (a[2]->kind() != value_kind::string || a[2]->text() != "strict"))
        return fail(errc::unsupported_feature, "only strict encoding errors are supported");
      for (auto& ch : enc) ch = static_cast<char>(ch == '_' ? '-' : std::tolower(static_cast<unsigned char>(ch)));
      std::string out;
      const std::string_view s = a[0]->text();
      if (!st_.charge(s.size()))  // the encoded copy is never longer than the UTF-8 text
        return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
      if (enc == "latin1" || enc == "latin-1" || enc == "iso-8859-1" || enc == "iso8859-1" || enc == "l1") {
        // Decode UTF-8 code points; each must fit one byte.
        for (std::size_t i = 0; i < s.size();) {
          const unsigned char c = static_cast<unsigned char>(s[i]);
          if (c < 0x80) { out.push_back(static_cast<char>(c)); ++i; continue; }
          if ((c & 0xe0) == 0xc0 && i + 1 < s.size()) {
            const unsigned cp = ((c & 0x1fu) << 6) | (static_cast<unsigned char>(s[i + 1]) & 0x3fu);
            if (cp <= 0xff) { out.push_back(static_cast<char>(cp)); i += 2; continue; }
          }
          return fail(errc::bad_rebuild_args, "string cannot be encoded as latin-1");
        }
      } else if (enc == "utf-8" || enc == "utf8" || enc == "ascii") {
        if (!valid_utf8(s, false)) return fail(errc::bad_rebuild_args, "string holds lone surrogates");
        if (enc == "ascii")
          for (char ch : s)
            if (static_cast<unsigned char>(ch) >= 0x80) return fail(errc::bad_rebuild_args, "string is not ASCII");
        out.assign(s);
      } else {
        return fail(errc::unsupported_feature, "encoding '" + enc + "' is not supported");
      }
      auto v = alloc(value_kind::bytes);
      if (!v) return v;
      va::set_text(st_.mem, **v, out);
      return v;
    }
    case global_id::bytearray: {
      auto v = alloc(value_kind::bytes);
      if (!v) return v;
      va::small(**v) = flag_bytearray;
      if (newobj || n == 0) return v;
      const value& src = *a[0];
      // bytearray(n) makes n bytes and bytearray(b) copies b: charged before they exist. From a
      // list of ints each item is charged a pointer's worth: the walk over them is the cost.
      const std::uint64_t made = n != 1                              ? 0
                                 : src.kind() == value_kind::bytes   ? src.text().size()
                                 : is_seq(src)                       ? src.items().size() * sizeof(value*)
                                 : is_int(src) && src.as_int64() > 0 ? static_cast<std::uint64_t>(src.as_int64())
                                                                     : 0;
      if (made > opts_.limits.max_string_bytes)
        return fail(errc::limit_exceeded, "limit max_string_bytes (" + std::to_string(opts_.limits.max_string_bytes) + ") exceeded");
      if (!st_.charge(made))
        return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
      if (n == 1 && src.kind() == value_kind::bytes) {
        va::set_text(st_.mem, **v, src.text());
      } else if (n == 1 && is_seq(src)) {
        std::string bytes;
        bytes.reserve(src.items().size());
        for (const value* it : src.items()) {
          if (!is_int(*it) || it->as_int64() < 0 || it->as_int64() > 255) return fail(errc::bad_rebuild_args, "bytearray items must be 0..255");
          bytes.push_back(static_cast<char>(it->as_int64()));
        }
        va::set_text(st_.mem, **v, bytes);
      } else if (n == 1 && is_int(src) && src.as_int64() >= 0) {
        if (static_cast<std::uint64_t>(src.as_int64()) > opts_.limits.max_string_bytes)
          return fail(errc::limit_exceeded, "limit max_string_bytes (" + std::to_string(opts_.limits.max_string_bytes) + ") exceeded");
        const auto len = static_cast<std::size_t>(src.as_int64());
        if (len) std::memset(va::make_text(st_.mem, **v, len), 0, len);
      } else {
        return fail(errc::unsupported_feature, "bytearray from these arguments is not supported");
      }
      return v;
    }
    case global_id::parameter: {
      if (n < 1 || n > 2 || a[0]->kind() != value_kind::tensor || (n == 2 && a[1]->kind() != value_kind::boolean))
        return fail(errc::unsupported_feature, "Parameter(...) needs (tensor[, requires_grad])");
      if (auto r = check_requires_grad(*va::tensor(*a[0]), n == 2 ? a[1]->as_bool() : true); !r) return std::move(r).error_value();
      auto p = copy_tensor(*a[0], false);
      if (!p) return p;
      auto* rec = const_cast<tensor_record*>(va::tensor(**p));
      rec->parameter = true;
      rec->leaf = true;  // Parameter(data) detaches
      rec->requires_grad = n == 2 ? a[1]->as_bool() : true;
      return p;
    }
    case global_id::tensor:
    case global_id::tensor_class: {
      if (g.sparse) return fail(errc::unsupported_feature, "sparse legacy tensor classes are not supported yet");
      if (n != 0) return fail(errc::unsupported_feature, name + " with arguments is not supported");
      // torch.Tensor() / torch.FloatTensor(): an empty 1-D tensor (legacy files then BUILD it).
      if (st_.tensors.size() >= opts_.limits.max_tensors) return fail(errc::limit_exceeded, "limit max_tensors exceeded");
      if (!st_.charge(sizeof(tensor_record) + 16))
        return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
      tensor_record& t = st_.new_tensor();
      t.type = g.id == global_id::tensor_class ? static_cast<dtype>(g.param) : dtype::float32;
      const std::int64_t zero = 0, one = 1;
      t.shape = st_.copy_dims({&zero, 1});
      t.stride = st_.copy_dims({&one, 1});
      t.device = "cpu";
      auto v = alloc(value_kind::tensor);
      if (!v) return v;
      va::tensor(**v) = &t;
      return v;
    }
    default: return refuse();
  }
}

result<void> torch_rebuilder::build(value& inst, value& state) {
  switch (inst.kind()) {
    case value_kind::ordered_dict:
    case value_kind::dict: {
      if (inst.kind() == value_kind::dict && inst.dict_class().empty())
        return fail(errc::pickle_build_refused, "BUILD on a plain dict");
      if (!is_dict(state)) return fail(errc::bad_rebuild_args, "OrderedDict state is not a dict");
      return set_obj_state(inst, state);
    }
    case value_kind::object:
      if (inst.items().size() > 1) return fail(errc::pickle_build_refused, "object built twice");
      va::push_item(st_.mem, inst, &state);
      return {};
    case value_kind::tensor: {
      auto* rec = const_cast<tensor_record*>(va::tensor(inst));
      // Tensor.__setstate__ starts with `if not self.is_leaf: raise RuntimeError`, whatever the state.
      if (!rec->leaf) return fail(errc::bad_rebuild_args, "__setstate__ can be only called on leaf Tensors (torch raises)");
      if (rec->parameter) {
        // Parameter.__setstate__ (Tensor.__setstate__): leaf tensors only; legacy 4-tuple set_;
        // 5-tuple Variable: `self.data = state[0]`, then state = (state[3], state[4], state[2]);
        // then `self.requires_grad, _, self._backward_hooks = state`. Each assignment goes through
        // the same setter rules as _set_obj_state (bool, leaf and dtype checks; hooks refused).
        if (state.kind() != value_kind::tuple) return fail(errc::bad_rebuild_args, "Parameter state is not a tuple");
        const auto s = state.items();
        if (s.size() == 3 || s.size() == 5) {
          if (s.size() == 5)
            if (auto r = set_tensor_attr(inst, "data", *s[0]); !r) return r;
          const value& rg = s.size() == 3 ? *s[0] : *s[3];
          const value& hooks = *s[2];
          if (auto r = set_tensor_attr(inst, "requires_grad", rg); !r) return r;
          return set_tensor_attr(inst, "_backward_hooks", hooks);
        }
        if (s.size() != 4) return fail(errc::bad_rebuild_args, "Parameter state has " + std::to_string(s.size()) + " items");
      }
      // torch.Tensor BUILD: inst.set_(storage, offset, size, stride).
      if (state.kind() != value_kind::tuple || state.items().size() != 4)
        return fail(errc::unsupported_feature, "legacy tensor state must be (storage, offset, size, stride)");
      const auto s = state.items();
      auto t = make_tensor(*s[0], *s[1], *s[2], *s[3], false, dtype::uint8);
      if (!t) return std::move(t).error_value();
      const bool param = rec->parameter, rg = rec->requires_grad;
      *rec = *va::tensor(**t);
      rec->parameter = param;
      rec->requires_grad = rg;
      return {};
    }
    default:
      return fail(errc::pickle_build_refused,
                  "BUILD on a " + std::string(value_kind_name(inst.kind())) + "; only Tensor, Parameter and OrderedDict are built");
  }
}

}  // namespace pthsafe::detail
