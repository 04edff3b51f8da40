#include "torch/rebuild.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

#include "io/checked.hpp"
#include "pickle/text.hpp"
#include "torch/arg_kinds.hpp"
#include "torch/quantized.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

}  // namespace

result<void> check_dim_counts(std::size_t shape_n, std::size_t stride_n, const limits& lim) {
  if (shape_n > dims_limit(lim))
    return make_error(errc::limit_exceeded, "limit max_dims (" + std::to_string(dims_limit(lim)) + ") exceeded");
  if (shape_n != stride_n)
    return make_error(errc::tensor_bad_geometry, "size has " + std::to_string(shape_n) + " dims, stride " +
                                                     std::to_string(stride_n));
  return {};
}

result<void> validate_view(tensor_record& t, std::uint64_t storage_nbytes, const limits& lim) {
  PTHSAFE_TRY(check_dim_counts(t.shape().size(), t.stride().size(), lim));
  if (t.offset < 0) return make_error(errc::tensor_bad_geometry, "negative storage offset");
  std::uint64_t numel = 1;
  std::uint64_t span = 0;  // sum of (size_i - 1) * stride_i over non-empty dims
  bool empty = false;
  for (std::size_t i = 0; i < t.shape().size(); ++i) {
    if (t.shape()[i] < 0) return make_error(errc::tensor_bad_geometry, "negative size in dim " + std::to_string(i));
    if (t.stride()[i] < 0) return make_error(errc::tensor_bad_geometry, "negative stride in dim " + std::to_string(i));
    auto n = checked_mul<std::uint64_t>(numel, static_cast<std::uint64_t>(t.shape()[i]));
    if (!n || *n > static_cast<std::uint64_t>(INT64_MAX))
      return make_error(errc::tensor_bad_geometry, "number of elements overflows int64");
    numel = *n;
    if (t.shape()[i] == 0) empty = true;
  }
  t.numel = numel;
  const std::uint64_t item = itemsize(t.type);
  if (!checked_mul<std::uint64_t>(numel, item))
    return make_error(errc::tensor_bad_geometry, "tensor byte size overflows");
  if (empty || numel == 0) return {};  // torch: an empty view fits any storage
  for (std::size_t i = 0; i < t.shape().size(); ++i) {
    const auto term = checked_mul<std::uint64_t>(static_cast<std::uint64_t>(t.shape()[i] - 1), static_cast<std::uint64_t>(t.stride()[i]));
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
  if (st_.tensor_count >= opts_.limits.max_tensors)
    return fail(errc::limit_exceeded, "limit max_tensors (" + std::to_string(opts_.limits.max_tensors) + ") exceeded");
  if (!st_.charge(charged_tensor_record_bytes + std::uint64_t{16} * opts_.limits.max_dims))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  return &st_.new_tensor();
}

result<const tensor_extra*> torch_rebuilder::new_extra(const tensor_extra& e) {
  if (!st_.charge(sizeof(tensor_extra)))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  return st_.new_extra(e);
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
  if (!st_.charge(charged_value_bytes))
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
  const bool int_key = key_v.kind() != value_kind::string;
  if (int_key && !is_int(key_v)) return fail(errc::bad_persistent_id, "storage key is not a str or an int");
  // torch's own keys are str under data/: the key node's text is the key, with no copy (a
  // string per storage was ~4 % of a 100,000-tensor load: bench/NOTES.md 49).
  const bool data_prefix = prefix_ == "data/";
  std::string spelled;
  if (int_key || !data_prefix) {
    spelled = int_key ? std::to_string(key_v.as_int64()) : std::string(key_v.text());
    // TorchScript constants live in constants/<key>: their keys are kept distinct from data/<key>.
    if (!data_prefix) spelled = prefix_ + spelled;
  }
  const std::string_view key = int_key || !data_prefix ? std::string_view(spelled) : key_v.text();
  if (!is_text(loc) || !valid_device(loc.text())) return fail(errc::bad_device, "invalid storage location");
  if (!is_int(numel_v) || numel_v.as_int64() < 0) return fail(errc::bad_persistent_id, "storage numel is not a non-negative int");
  const auto nbytes = checked_mul<std::uint64_t>(static_cast<std::uint64_t>(numel_v.as_int64()), itemsize(type));
  if (!nbytes) return fail(errc::bad_persistent_id, "storage numel * itemsize overflows");

  storage_record* rec;
  storage_record* same_spelling = by_key_.find(key);
  if (same_spelling && same_spelling->int_key == int_key) {
    rec = same_spelling;
    if (rec->alias) return fail(errc::bad_persistent_id, "storage key '" + std::string(key) + "' already names a view of another storage");
    if (rec->type != type || rec->nbytes != *nbytes)
      return fail(errc::storage_dtype_conflict, "storage '" + std::string(key) + "' referenced with two different types or sizes");
  } else {
    if (!st_.charge(charged_storage_record_bytes + 4 * key.size() + 160))
      return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
    if (same_spelling)
      return fail(errc::bad_persistent_id, "storage keys " + std::string(key) + " (int) and '" + std::string(key) +
                                                   "' (str) are two storages to torch but one name in pthsafe's output");
    if (!zip_ && placeholders_) {
      st_.storages.emplace_back();
      rec = &st_.storages.back();
      rec->key = st_.mem.copy(key);
      rec->int_key = int_key;
      rec->type = type;
      rec->nbytes = *nbytes;
      if (!by_key_.insert(st_.storages.size() - 1)) return fail(errc::limit_exceeded, "too many storages");
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
      entry = data_prefix ? zip_->find_data(key) : zip_->find(key);
      if (!entry)
        return fail(errc::missing_record,
                    "record " + std::string(zip_->root()) + "/" + (data_prefix ? "data/" : "") + std::string(key) + " is missing");
      const auto& e = zip_->entries()[*entry];
      if (e.uncomp_size != *nbytes)
        return fail(errc::storage_size_mismatch, "record " + std::string(e.name()) + " has " + std::to_string(e.uncomp_size) +
                                                     " bytes, persistent id says " + std::to_string(*nbytes));
      record = e.name();
    }
    st_.storages.emplace_back();
    rec = &st_.storages.back();
    // A str key spelled as written is the key node's text, which lives as long as the
    // checkpoint (value text always does): no second copy per storage (bench/NOTES.md 37).
    rec->key = !int_key && key == key_v.text() ? key_v.text() : st_.mem.copy(key);
    rec->int_key = int_key;
    rec->set_record(record);
    rec->type = type;
    rec->nbytes = *nbytes;
    rec->entry = entry;
    if (!by_key_.insert(st_.storages.size() - 1)) return fail(errc::limit_exceeded, "too many storages");
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
  if (!is_int(offset)) return fail(errc::bad_rebuild_args, "storage offset is not an int");
  if (!(is_seq(size) || size.kind() == value_kind::size) || !(is_seq(stride) || stride.kind() == value_kind::size))
    return fail(errc::bad_rebuild_args, "size and stride must be tuples");
  return tensor_of(storage, offset.as_int64(), size.items().size(), stride.items().size(), has_dtype, type,
                   [&](std::span<std::int64_t> shape, std::span<std::int64_t> strides) -> result<void> {
                     for (std::size_t i = 0; i < shape.size(); ++i) {
                       if (!is_int(*size.items()[i])) return fail(errc::bad_rebuild_args, "size item is not an int");
                       shape[i] = size.items()[i]->as_int64();
                     }
                     for (std::size_t i = 0; i < strides.size(); ++i) {
                       if (!is_int(*stride.items()[i])) return fail(errc::bad_rebuild_args, "stride item is not an int");
                       strides[i] = stride.items()[i]->as_int64();
                     }
                     return {};
                   });
}

template <class Fill>
result<value*> torch_rebuilder::tensor_of(const value& storage, std::int64_t offset, std::size_t ns, std::size_t nt, bool has_dtype,
                                          dtype type, Fill&& fill) {
  storage_record* rec = va::storage(storage);
  if (st_.tensor_count >= opts_.limits.max_tensors)
    return fail(errc::limit_exceeded, "limit max_tensors (" + std::to_string(opts_.limits.max_tensors) + ") exceeded");
  if (ns > dims_limit(opts_.limits) || nt > dims_limit(opts_.limits))
    return fail(errc::limit_exceeded, "limit max_dims (" + std::to_string(dims_limit(opts_.limits)) + ") exceeded");
  tensor_record t;
  t.type = has_dtype ? type : rec->type;
  if (has_dtype && rec->type != dtype::uint8)
    return fail(errc::bad_rebuild_args, "_rebuild_tensor_v3 needs an untyped storage");
  t.offset = offset;
  // The record and its dims live in the arena: charged before they are made.
  if (!st_.charge(charged_tensor_record_bytes + sizeof(std::int64_t) * (ns + nt)))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  t.set_dims(st_.mem.make_array<std::int64_t>(ns + nt), ns, nt);
  PTHSAFE_TRY(fill(t.shape(), t.stride()));
  t.set_device(storage.text());  // the storage value's text, in the arena
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

// The tensor template's calls: OrderedDict() (call_mapping: a new node, charged; here only the
// charge, as the dict would be dropped once the tensor is made), then call_rebuild_tensor_v2 with
// six arguments, the hooks that empty dict, and make_tensor past its arguments' kinds (ints by
// construction).
result<value*> torch_rebuilder::rebuild_tensor_v2(value& storage, std::int64_t offset, std::span<const std::int64_t> size,
                                                  std::span<const std::int64_t> stride, bool requires_grad) {
  if (!st_.charge(charged_value_bytes))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  if (storage.kind() != value_kind::storage) return fail(errc::bad_rebuild_args, "tensor storage is not a storage");
  PTHSAFE_ASSIGN(value* t, tensor_of(storage, offset, size.size(), stride.size(), false, dtype::uint8,
                                     [&](std::span<std::int64_t> shape, std::span<std::int64_t> strides) -> result<void> {
                                       std::copy(size.begin(), size.end(), shape.begin());
                                       std::copy(stride.begin(), stride.end(), strides.begin());
                                       return {};
                                     }));
  auto* rec = const_cast<tensor_record*>(va::tensor(*t));
  PTHSAFE_TRY(check_requires_grad(*rec, requires_grad));
  rec->requires_grad = requires_grad;
  return t;
}

std::optional<std::string> torch_rebuilder::shown_storage_key(const value& key) {
  if (key.kind() == value_kind::string) return std::string(key.text());
  if (is_int(key)) return std::to_string(key.as_int64());
  return std::nullopt;
}

result<value*> torch_rebuilder::copy_tensor(const value& src, bool keep_attrs) {
  if (st_.tensor_count >= opts_.limits.max_tensors)
    return fail(errc::limit_exceeded, "limit max_tensors (" + std::to_string(opts_.limits.max_tensors) + ") exceeded");
  std::uint64_t cost = charged_tensor_record_bytes + 16 * value_access::tensor(src)->shape().size();
  if (keep_attrs)
    for (const auto& [k, v] : src.attrs()) cost += sizeof(src.attrs()[0]) + k.size();
  if (!st_.charge(cost))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  tensor_record& out = st_.new_tensor();
  out = *va::tensor(src);
  st_.own_dims(out);  // a record owns its dims: never shared with another
  auto v = alloc(value_kind::tensor);
  if (!v) return v;
  va::tensor(**v) = &out;
  if (keep_attrs)
    for (const auto& [name, val] : src.attrs()) va::push_attr(st_.mem, **v, name, val);
  return *v;
}

result<value*> torch_rebuilder::rebuild_from_type_v2(value& args) {
  const auto a = args.items();
  if (a.size() != 4) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 takes 4 arguments");
  value& func = const_cast<value&>(*a[0]);
  const value& new_type = *a[1];
  value& inner_args = const_cast<value&>(*a[2]);
  if (inner_args.kind() != value_kind::tuple) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 args is not a tuple");
  PTHSAFE_ASSIGN(value* ret, reduce(func, inner_args));
  if (ret->kind() != value_kind::tensor) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 did not build a tensor");
  if (new_type.kind() != value_kind::global) return fail(errc::bad_rebuild_args, "_rebuild_from_type_v2 type is not a class");
  const global_id t = global_of(new_type).id;
  if (t == global_id::caller_allowed) {
    // A class the caller admitted: its __setstate__ is unknown, so the state stays inert.
    PTHSAFE_TRY(set_obj_state(*ret, *a[3]));
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
    PTHSAFE_ASSIGN(ret, copy_tensor(*ret, false));
    auto* rec = const_cast<tensor_record*>(va::tensor(*ret));
    rec->parameter = t == global_id::parameter;
    if (rec->requires_grad) rec->leaf = false;  // as_subclass is an alias: a view in the graph
  }
  // torch 2.x applies the state whatever the type (torch 1.13's weights_only unpickler refuses
  // this function altogether; its full unpickler drops the state, warned above).
  PTHSAFE_TRY(apply_tensor_state(*ret, *a[3]));
  return ret;
}

result<value*> torch_rebuilder::call_rebuild_tensor(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 4) return fail(errc::bad_rebuild_args, "_rebuild_tensor takes 4 arguments");
  return make_tensor(*a[0], *a[1], *a[2], *a[3], false, dtype::uint8);
}

result<value*> torch_rebuilder::call_rebuild_tensor_v2(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  const bool v3 = c.g.id == global_id::rebuild_tensor_v3;
  const std::size_t base = v3 ? 7 : 6;
  if (n != base && n != base + 1)
    return fail(errc::bad_rebuild_args, std::string(c.callable.text()) + " takes " + std::to_string(base) + " or " +
                                            std::to_string(base + 1) + " arguments");
  dtype type = dtype::uint8;
  if (v3) {
    if (a[6]->kind() != value_kind::dtype || value_access::i(const_cast<value&>(*a[6])) < 0)
      return fail(errc::bad_dtype, "_rebuild_tensor_v3 dtype is not a tensor dtype");
    type = a[6]->as_dtype();
  }
  if (a[4]->kind() != value_kind::boolean) return fail(errc::bad_rebuild_args, "requires_grad is not a bool");
  PTHSAFE_ASSIGN(value* t, make_tensor(*a[0], *a[1], *a[2], *a[3], v3, type));
  auto* rec = const_cast<tensor_record*>(va::tensor(*t));
  PTHSAFE_TRY(check_requires_grad(*rec, a[4]->as_bool()));
  rec->requires_grad = a[4]->as_bool();
  if (n == base + 1) PTHSAFE_TRY(apply_conj_neg(*rec, *a[base]));
  // tensor._backward_hooks = backward_hooks: torch.save writes an empty OrderedDict; hooks
  // would be installed on the loaded tensor.
  if (const value& hooks = *a[5]; !(hooks.kind() == value_kind::none || (is_dict(hooks) && hooks.items().empty())))
    return fail(errc::tensor_state_refused, std::string(c.callable.text()) + " installs backward hooks");
  return t;
}

result<value*> torch_rebuilder::call_rebuild_parameter(const call& c) {
  const auto a = c.args.items();
  const bool with_state = c.g.id == global_id::rebuild_parameter_with_state;
  if (a.size() != (with_state ? 4u : 3u)) return fail(errc::bad_rebuild_args, std::string(c.callable.text()) + ": wrong argument count");
  if (a[0]->kind() != value_kind::tensor || a[1]->kind() != value_kind::boolean)
    return fail(errc::bad_rebuild_args, "Parameter needs a tensor and a bool");
  PTHSAFE_TRY(check_requires_grad(*va::tensor(*a[0]), a[1]->as_bool()));
  // param._backward_hooks = backward_hooks (then, with state, _set_obj_state(param, state)).
  if (const value& hooks = *a[2]; !(hooks.kind() == value_kind::none || (is_dict(hooks) && hooks.items().empty())))
    return fail(errc::tensor_state_refused, std::string(c.callable.text()) + " installs backward hooks");
  PTHSAFE_ASSIGN(value* p, copy_tensor(*a[0], false));  // Parameter(data) is a new object
  auto* rec = const_cast<tensor_record*>(va::tensor(*p));
  rec->parameter = true;
  rec->leaf = true;  // Parameter(data) detaches
  rec->requires_grad = a[1]->as_bool();
  if (with_state) PTHSAFE_TRY(apply_tensor_state(*p, *a[3]));
  return p;
}

result<value*> torch_rebuilder::call_parameter(const call& c) {
  const auto a = c.args.items();
  const std::size_t n = a.size();
  if (n < 1 || n > 2 || a[0]->kind() != value_kind::tensor || (n == 2 && a[1]->kind() != value_kind::boolean))
    return fail(errc::unsupported_feature, "Parameter(...) needs (tensor[, requires_grad])");
  PTHSAFE_TRY(check_requires_grad(*va::tensor(*a[0]), n == 2 ? a[1]->as_bool() : true));
  PTHSAFE_ASSIGN(value* p, copy_tensor(*a[0], false));
  auto* rec = const_cast<tensor_record*>(va::tensor(*p));
  rec->parameter = true;
  rec->leaf = true;  // Parameter(data) detaches
  rec->requires_grad = n == 2 ? a[1]->as_bool() : true;
  return p;
}

result<value*> torch_rebuilder::call_empty_tensor(const call& c) {
  if (c.g.sparse) return fail(errc::unsupported_feature, "sparse legacy tensor classes are not supported yet");
  if (!c.args.items().empty())
    return fail(errc::unsupported_feature, std::string(c.callable.text()) + " with arguments is not supported");
  // torch.Tensor() / torch.FloatTensor(): an empty 1-D tensor (legacy files then BUILD it).
  if (st_.tensor_count >= opts_.limits.max_tensors) return fail(errc::limit_exceeded, "limit max_tensors exceeded");
  if (!st_.charge(charged_tensor_record_bytes + 16))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  tensor_record& t = st_.new_tensor();
  t.type = c.g.id == global_id::tensor_class ? static_cast<dtype>(c.g.param) : dtype::float32;
  const std::int64_t zero = 0, one = 1;
  st_.set_dims(t, {&zero, 1}, {&one, 1});
  t.set_device("cpu");
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::tensor));
  va::tensor(*v) = &t;
  return v;
}

result<void> torch_rebuilder::build_tensor(value& inst, const value& state) {
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
      if (s.size() == 5) PTHSAFE_TRY(set_tensor_attr(inst, "data", *s[0]));
      const value& rg = s.size() == 3 ? *s[0] : *s[3];
      const value& hooks = *s[2];
      PTHSAFE_TRY(set_tensor_attr(inst, "requires_grad", rg));
      return set_tensor_attr(inst, "_backward_hooks", hooks);
    }
    if (s.size() != 4) return fail(errc::bad_rebuild_args, "Parameter state has " + std::to_string(s.size()) + " items");
  }
  // torch.Tensor BUILD: inst.set_(storage, offset, size, stride).
  if (state.kind() != value_kind::tuple || state.items().size() != 4)
    return fail(errc::unsupported_feature, "legacy tensor state must be (storage, offset, size, stride)");
  const auto s = state.items();
  PTHSAFE_ASSIGN(value* t, make_tensor(*s[0], *s[1], *s[2], *s[3], false, dtype::uint8));
  const bool param = rec->parameter, rg = rec->requires_grad;
  *rec = *va::tensor(*t);
  rec->parameter = param;
  rec->requires_grad = rg;
  return {};
}

}  // namespace pthsafe::detail
