// Value tree -> Python objects. Containers and scalars are built here with the C API; every
// torch or numpy object is made by a small function of pthsafe._glue (one per kind), called with
// checked data only. Tensors: each storage becomes one uint8 tensor over the checkpoint's bytes
// through DLPack (no copy; the DLPack owner holds the checkpoint), viewed as its dtype; every
// tensor is then a set_() onto that storage, so views share it exactly as torch.load's do.
#include "to_python.hpp"

#include <nanobind/ndarray.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>

#include <algorithm>
#include <array>
#include <string>
#include <utility>
#include <vector>

#include "model/state.hpp"
#include "stack.hpp"

namespace nb = nanobind;

namespace pthsafe::py {
namespace {

using detail::value_access;

std::uint64_t sat_mul(std::uint64_t a, std::uint64_t b) {
  return (b != 0 && a > UINT64_MAX / b) ? UINT64_MAX : a * b;
}

nb::object steal_or_throw(PyObject* o) {
  if (!o) throw nb::python_error();
  return nb::steal(o);
}

nb::object py_int(const value& v) {
  if (v.fits_int64()) return steal_or_throw(PyLong_FromLongLong(v.as_int64()));
  if (value_access::small(const_cast<value&>(v)) & detail::flag_int_raw) {
    // Two's complement, little-endian: no decimal round trip, so no int_max_str_digits limit.
    const std::string_view raw = v.text();
    return steal_or_throw(_PyLong_FromByteArray(reinterpret_cast<const unsigned char*>(raw.data()),
                                                raw.size(), /*little_endian=*/1, /*is_signed=*/1));
  }
  const std::string dec = v.int_decimal();  // at most 4300 digits (the pickle layer's limit)
  return steal_or_throw(PyLong_FromString(dec.c_str(), nullptr, 10));
}

nb::object py_str(std::string_view s) { return value_text(s); }

nb::tuple shape_tuple(std::span<const std::int64_t> dims) {
  nb::object t = steal_or_throw(PyTuple_New(static_cast<Py_ssize_t>(dims.size())));
  for (std::size_t i = 0; i < dims.size(); ++i)
    PyTuple_SET_ITEM(t.ptr(), static_cast<Py_ssize_t>(i), steal_or_throw(PyLong_FromLongLong(dims[i])).release().ptr());
  return nb::borrow<nb::tuple>(t);
}

std::string_view numpy_name(const value& v) { return dtype_name(*v.numpy_dtype()); }

[[noreturn]] void raise_py(PyObject* type, const std::string& message) {
  PyErr_SetString(type, message.c_str());
  throw nb::python_error();
}

// ---- direct tensors: one DLPack hand-over per tensor ---------------------------------------
// DLPack's unversioned C ABI (a "dltensor" capsule holding a DLManagedTensor), which
// torch._C._from_dlpack reads in every torch this package supports (1.13 and 2.x).
struct dl_managed {
  nb::dlpack::dltensor tensor;
  void* manager_ctx;
  void (*deleter)(dl_managed*);
};

// What torch's storage owns until its deleter runs: the managed tensor, its shape and strides,
// and a share of the checkpoint (~loaded takes the GIL itself: torch may free without it).
struct dl_holder {
  dl_managed managed{};
  std::vector<std::int64_t> dims;  // shape, then strides
  std::shared_ptr<loaded> owner;
};

void dl_delete(dl_managed* m) noexcept { delete static_cast<dl_holder*>(m->manager_ctx); }

// A capsule torch never consumed (an error before or inside _from_dlpack) still owns its tensor.
void dl_capsule_destructor(PyObject* cap) noexcept {
  if (!PyCapsule_IsValid(cap, "dltensor")) return;  // renamed by torch: torch owns it now
  auto* m = static_cast<dl_managed*>(PyCapsule_GetPointer(cap, "dltensor"));
  if (m) m->deleter(m);
}

// The DLPack type of the dtypes every supported torch maps one way; others take the general path.
bool dl_type(dtype t, nb::dlpack::dtype& out) {
  using c = nb::dlpack::dtype_code;
  auto set = [&](c code, std::uint8_t bits) {
    out.code = static_cast<std::uint8_t>(code);
    out.bits = bits;
    out.lanes = 1;
    return true;
  };
  switch (t) {
    case dtype::float64: return set(c::Float, 64);
    case dtype::float32: return set(c::Float, 32);
    case dtype::float16: return set(c::Float, 16);
    case dtype::bfloat16: return set(c::Bfloat, 16);
    case dtype::int64: return set(c::Int, 64);
    case dtype::int32: return set(c::Int, 32);
    case dtype::int16: return set(c::Int, 16);
    case dtype::int8: return set(c::Int, 8);
    case dtype::uint8: return set(c::UInt, 8);
    default: return false;
  }
}

}  // namespace

nb::object value_text(std::string_view s) {
  // Lone surrogates are kept as 3-byte sequences (value.hpp): "surrogatepass" restores them.
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "surrogatepass");
  if (o) return nb::steal(o);
  PyErr_Clear();  // not text the core made: shown, never an exception of its own
  return shown_text(s);
}

nb::object shown_text(std::string_view s) {
  return steal_or_throw(PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace"));
}

void raise_checkpoint_error(const error& e) {
  nb::object exc = nb::module_::import_("pthsafe._errors").attr("from_core")(
      std::string(errc_name(e.code)), static_cast<int>(classify(e.code)), shown_text(e.record), e.offset,
      shown_text(e.message));
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exc.ptr())), exc.ptr());
  throw nb::python_error();
}

converter::converter(std::shared_ptr<loaded> l, placement where, std::uint64_t hash_budget)
    : loaded_(std::move(l)), where_(std::move(where)), glue_(nb::module_::import_("pthsafe._glue")),
      hash_budget_(hash_budget),
      stack_low_(current_stack().low),
      torch_(!glue_.attr("torch").is_none()) {
  if (torch_ && nb::hasattr(glue_, "dlpack_tensor") && !glue_.attr("dlpack_tensor").is_none())
    from_dlpack_ = glue_.attr("dlpack_tensor");
  // One memo entry per value converted (a state_dict: a key and a tensor per tensor): sized once.
  memo_.reserve(2 * loaded_->ck.tensor_count() + 64);
  direct_.reserve(loaded_->ck.storage_count());
}

// The converter recurses once per nesting level (the core allows max_nesting_depth, 1000), and
// a thread's stack may be small (threading.stack_size(128 KiB) crashed at depth ~500): refuse
// before the stack runs out rather than overflow it.
void converter::check_stack() const {
  constexpr std::uintptr_t reserve = std::uintptr_t{64} << 10;  // for the Python calls below the deepest level
  const char here = 0;
  const auto at = reinterpret_cast<std::uintptr_t>(&here);
  if (stack_low_ != 0 && at < stack_low_ + reserve)
    raise_checkpoint_error(make_error(errc::limit_exceeded,
        "the checkpoint nests deeper than this thread's stack can convert (" +
        std::to_string((at - stack_low_) / 1024) + " KiB left); load it from a thread with a larger stack"));
}

nb::object converter::convert(const value& v) {
  if (auto it = memo_.find(&v); it != memo_.end()) return it->second;
  check_stack();
  nb::object o = convert_new(v);
  memo_.emplace(&v, o);
  return o;
}

// CPython does not cache a tuple's hash: hashing a key visits every node of it as a tree, so a
// key of shared tuples (t = (t, t), 64 deep) that the core holds in 64 nodes would take 2^64
// steps to insert. What hashing a node costs, counted as the tree it expands to (saturating).
std::uint64_t converter::key_cost(const value& v) {
  // An int beyond 64 bits hashes in time linear in its digits (at most 4 KiB: 64 units).
  if (v.kind() == value_kind::integer) return v.fits_int64() ? 1 : 64;
  // Tuples and torch.Size (a tuple) hash every item each time (no cache); a frozenset caches its
  // hash, but counting it as a tree only overcharges.
  if (v.kind() != value_kind::tuple && v.kind() != value_kind::frozenset && v.kind() != value_kind::size) return 1;
  if (auto it = key_costs_.find(&v); it != key_costs_.end()) return it->second;
  std::uint64_t cost = 1;
  for (const value* item : v.items()) {
    const std::uint64_t c = key_cost(*item);
    cost = c > UINT64_MAX - cost ? UINT64_MAX : cost + c;
  }
  key_costs_.emplace(&v, cost);
  return cost;
}

void converter::charge(std::uint64_t cost, const char* what) {
  if (cost > hash_budget_)
    raise_checkpoint_error(make_error(errc::limit_exceeded,
        std::string("limit max_walk_nodes exceeded: ") + what + " would take more than " +
        std::to_string(hash_budget_) + " more steps in CPython"));
  hash_budget_ -= cost;
}

// Inserting n keys into a dict or set costs CPython one hash each (key_cost: tuple hashes are
// not cached) and, for every earlier key with the same hash, an equality test that may walk
// both keys: ints chosen to share a hash (k * (2**61 - 1)) or equal tuples built apart make
// insertion quadratic. Both are charged before a key is inserted, from the hashes CPython will
// use (grouped by sorting, so the grouping itself cannot be flooded). `passes`: how many times
// the keys are inserted (a Counter is built from a dict: twice).
void converter::charge_insertion(std::span<const value* const> nodes, std::span<const nb::object> keys,
                                 std::uint64_t passes) {
  std::vector<std::pair<Py_hash_t, std::uint64_t>> hashed;
  hashed.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::uint64_t cost = key_cost(*nodes[i]);
    // Hashed here to group the keys, then again by each insertion.
    charge(sat_mul(cost, passes + 1), "hashing the dict keys and set items");
    const Py_hash_t h = PyObject_Hash(keys[i].ptr());
    if (h == -1) throw nb::python_error();
    hashed.emplace_back(h, cost);
  }
  std::sort(hashed.begin(), hashed.end());
  for (std::size_t i = 0; i < hashed.size();) {
    std::size_t j = i;
    std::uint64_t widest = 0;
    for (; j < hashed.size() && hashed[j].first == hashed[i].first; ++j) widest = std::max(widest, hashed[j].second);
    const std::uint64_t g = j - i;
    if (g > 1)
      charge(sat_mul(sat_mul(g * (g - 1) / 2, 1 + widest), passes), "comparing dict keys and set items that share a hash");
    i = j;
  }
}

nb::object converter::items_list(const value& v) {
  nb::list out;
  for (const value* item : v.items()) out.append(convert(*item));
  return out;
}

nb::object converter::attrs_dict(const value& v) {
  nb::dict out;
  for (const auto& [name, val] : v.attrs()) out[py_str(name)] = convert(*val);
  return out;
}

nb::object converter::convert_new(const value& v) {
  switch (v.kind()) {
    case value_kind::none: return nb::none();
    case value_kind::boolean:
      if (v.numpy_dtype()) return glue_.attr("numpy_scalar")("bool", v.as_bool());
      return nb::bool_(v.as_bool());
    case value_kind::integer:
      if (v.numpy_dtype()) return glue_.attr("numpy_scalar")(numpy_name(v), py_int(v));
      return py_int(v);
    case value_kind::floating:
      if (v.numpy_dtype()) return glue_.attr("numpy_scalar")(numpy_name(v), v.as_double());
      return nb::float_(v.as_double());
    case value_kind::complex: {
      const auto c = v.as_complex();
      nb::object o = steal_or_throw(PyComplex_FromDoubles(c.real(), c.imag()));
      if (v.numpy_dtype()) return glue_.attr("numpy_scalar")(numpy_name(v), o);
      return o;
    }
    case value_kind::string: {
      nb::object s = py_str(v.text());
      if (v.is_torch_version()) return glue_.attr("torch_version")(s);
      return s;
    }
    case value_kind::bytes: {
      const std::string_view b = v.text();
      if (value_access::small(const_cast<value&>(v)) & detail::flag_bytearray)
        return steal_or_throw(PyByteArray_FromStringAndSize(b.data(), static_cast<Py_ssize_t>(b.size())));
      return steal_or_throw(PyBytes_FromStringAndSize(b.data(), static_cast<Py_ssize_t>(b.size())));
    }
    case value_kind::tuple: {
      const auto items = v.items();
      nb::object t = steal_or_throw(PyTuple_New(static_cast<Py_ssize_t>(items.size())));
      for (std::size_t i = 0; i < items.size(); ++i)
        PyTuple_SET_ITEM(t.ptr(), static_cast<Py_ssize_t>(i), convert(*items[i]).release().ptr());
      return t;
    }
    case value_kind::list: return items_list(v);
    case value_kind::set:
    case value_kind::frozenset: {
      const auto nodes = v.items();
      std::vector<nb::object> keys;
      keys.reserve(nodes.size());
      for (const value* item : nodes) keys.push_back(convert(*item));
      charge_insertion(nodes, keys, 1);
      nb::list items;
      for (const nb::object& k : keys) items.append(k);
      return steal_or_throw(v.kind() == value_kind::set ? PySet_New(items.ptr()) : PyFrozenSet_New(items.ptr()));
    }
    case value_kind::dict:
    case value_kind::ordered_dict: {
      nb::object d = v.kind() == value_kind::ordered_dict ? glue_.attr("OrderedDict")() : nb::object(nb::dict());
      const auto items = v.items();
      std::vector<const value*> nodes;
      std::vector<nb::object> keys;
      nodes.reserve(items.size() / 2);
      keys.reserve(items.size() / 2);
      for (std::size_t i = 0; i + 1 < items.size(); i += 2) {
        nodes.push_back(items[i]);
        keys.push_back(convert(*items[i]));
      }
      charge_insertion(nodes, keys, v.dict_class().empty() ? 1 : 2);
      for (std::size_t i = 0; i + 1 < items.size(); i += 2)
        if (PyObject_SetItem(d.ptr(), keys[i / 2].ptr(), convert(*items[i + 1]).ptr()) != 0) throw nb::python_error();
      if (!v.dict_class().empty()) d = glue_.attr("dict_subclass")(py_str(v.dict_class()), d);
      if (!v.attrs().empty()) glue_.attr("set_state")(d, attrs_dict(v));
      return d;
    }
    case value_kind::size: return glue_.attr("size")(items_list(v));
    case value_kind::dtype: return glue_.attr("dtype")(py_str(dtype_name(v.as_dtype())));
    case value_kind::device: return glue_.attr("device")(py_str(v.text()));
    case value_kind::layout: return glue_.attr("layout")(py_str(v.text()));
    case value_kind::qscheme: return glue_.attr("qscheme")(py_str(v.text()));
    case value_kind::tensor: {
      nb::object t = tensor(v.as_tensor());
      if (!v.attrs().empty()) glue_.attr("set_state")(t, attrs_dict(v));
      return t;
    }
    case value_kind::object: {
      const auto items = v.items();
      nb::object args = items.empty() ? nb::none() : convert(*items[0]);
      nb::object state = items.size() > 1 ? convert(*items[1]) : nb::none();
      return glue_.attr("InertObject")(py_str(v.text()), args, state, attrs_dict(v));
    }
    case value_kind::global: return glue_.attr("GlobalRef")(py_str(v.text()));
    case value_kind::storage: {
      const detail::storage_record* r = value_access::storage(v);
      nb::object base = storage_base_raw(reinterpret_cast<std::uintptr_t>(r), r->data, r->nbytes);
      return glue_.attr("typed_storage")(base, py_str(dtype_name(r->type)));
    }
    case value_kind::ndarray: {
      const std::string_view b = v.text();
      nb::object raw = steal_or_throw(PyBytes_FromStringAndSize(b.data(), static_cast<Py_ssize_t>(b.size())));
      return glue_.attr("ndarray")(numpy_name(v), items_list(v), raw);
    }
  }
  throw nb::type_error("pthsafe: value kind without a Python conversion");
}

std::string placement::target(std::string_view saved) const {
  if (auto it = remap.find(std::string(saved)); it != remap.end()) return it->second;
  return all.empty() ? std::string(saved) : all;
}

nb::object converter::storage_base_raw(std::uintptr_t id, const std::byte* data, std::uint64_t nbytes) {
  if (auto it = storages_.find(id); it != storages_.end()) return it->second;
  if (auto it = direct_.find(id); it != direct_.end()) {
    // The storage's first tensor came straight from DLPack: later users share its storage.
    nb::object base = glue_.attr("storage_bytes")(it->second);
    storages_.emplace(id, base);
    return base;
  }
  // The DLPack owner: a shared reference to the checkpoint (and so to the mapping it views).
  auto* owner = new std::shared_ptr<loaded>(loaded_);
  nb::capsule cap(owner, [](void* p) noexcept { delete static_cast<std::shared_ptr<loaded>*>(p); });
  static const std::byte empty{};  // DLPack wants a pointer even for zero bytes
  const std::array<std::size_t, 1> shape{static_cast<std::size_t>(nbytes)};
  auto* ptr = const_cast<std::byte*>(data ? data : &empty);
  nb::object base;
  if (torch_)
    base = nb::cast(nb::ndarray<nb::pytorch, std::uint8_t, nb::ndim<1>>(ptr, 1, shape.data(), cap));
  else
    base = nb::cast(nb::ndarray<nb::numpy, std::uint8_t, nb::ndim<1>>(ptr, 1, shape.data(), cap));
  storages_.emplace(id, base);
  return base;
}

nb::object converter::storage_base(storage_view s, const std::string& device) {
  const auto b = s.bytes();
  nb::object base = storage_base_raw(s.id(), b.data(), s.nbytes());
  if (device == "cpu") return base;  // torch restores "cpu" only ("cpu:0" is no location to it)
  // Moved once per storage and device: every view of the storage shares the moved copy.
  auto key = std::make_pair(s.id(), device);
  if (auto it = moved_.find(key); it != moved_.end()) return it->second;
  nb::object moved = glue_.attr("to_device")(base, device);
  moved_.emplace(std::move(key), moved);
  return moved;
}

nb::object converter::storage_tensor(tensor_view t, nb::handle dt) {
  const std::string device = where_.target(t.device());
  if (device == "cpu")
    if (nb::object out = direct_tensor(t); out.is_valid()) return out;
  nb::object base = storage_base(t.storage(), device);
  return glue_.attr("rebuild")(base, dt, t.storage_offset(), shape_tuple(t.shape()), shape_tuple(t.strides()));
}

nb::object converter::direct_tensor(tensor_view t) {
  // The fast path (one torch call per tensor instead of a uint8 storage tensor, torch.empty and
  // set_()): taken when the tensor is the first user of its storage and views it whole from
  // offset 0, so that the storage torch builds from DLPack (data pointer, extent of the view) is
  // exactly the file's storage; later tensors of that storage set_() onto it (storage_base_raw).
  if (!from_dlpack_.is_valid() || t.is_conj() || t.is_neg()) return {};
  nb::dlpack::dtype type;
  if (!dl_type(t.element_type(), type) || t.storage_offset() != 0 || t.numel() == 0) return {};
  const storage_view s = t.storage();
  const auto bytes = s.bytes();
  if (bytes.data() == nullptr) return {};
  const auto shape = t.shape();
  const auto strides = t.strides();
  std::uint64_t last = 0;  // element index of the last element: in bounds (checked at load)
  for (std::size_t i = 0; i < shape.size(); ++i)
    last += static_cast<std::uint64_t>(shape[i] - 1) * static_cast<std::uint64_t>(strides[i]);
  if ((last + 1) * itemsize(t.element_type()) != s.nbytes()) return {};
  if (!storages_.empty() && storages_.count(s.id())) return {};
  auto [slot, fresh] = direct_.try_emplace(s.id());
  if (!fresh) return {};
  try {
    auto holder = std::make_unique<dl_holder>();
    holder->dims.assign(shape.begin(), shape.end());
    holder->dims.insert(holder->dims.end(), strides.begin(), strides.end());
    holder->owner = loaded_;
    dl_managed& m = holder->managed;
    m.tensor.data = const_cast<std::byte*>(bytes.data());
    m.tensor.device = {1, 0};  // kDLCPU
    m.tensor.ndim = static_cast<std::int32_t>(shape.size());
    m.tensor.dtype = type;
    m.tensor.shape = holder->dims.data();
    m.tensor.strides = holder->dims.data() + shape.size();
    m.tensor.byte_offset = 0;
    m.manager_ctx = holder.get();
    m.deleter = dl_delete;
    PyObject* cap = PyCapsule_New(&m, "dltensor", dl_capsule_destructor);
    if (!cap) throw nb::python_error();
    static_cast<void>(holder.release());  // the capsule owns it now (then torch, once it consumes it)
    nb::object capsule = nb::steal(cap);
    slot->second = from_dlpack_(capsule);
  } catch (...) {
    direct_.erase(slot);
    throw;
  }
  return slot->second;
}

// torch._utils._rebuild_sparse_tensor: the components are ordinary tensors of the checkpoint.
nb::object converter::sparse(tensor_view t) {
  const bool coo = t.layout() == tensor_layout::sparse_coo;
  nb::object indices = tensor(t.sparse_indices());
  nb::object plain = coo ? nb::none() : tensor(t.sparse_plain_indices());
  nb::object values = tensor(t.sparse_values());
  return glue_.attr("sparse")(py_str(layout_name(t.layout())), indices, plain, values, shape_tuple(t.shape()),
                              coo ? t.sparse_coalesced() : -1);
}

// torch._utils._rebuild_qtensor: an empty quantized tensor of the scheme, set_() onto the storage.
nb::object converter::quantized(tensor_view t, nb::handle dt) {
  nb::object base = storage_base(t.storage(), where_.target(t.device()));
  nb::object params;
  if (t.qscheme() == quant_scheme::per_tensor_affine) {
    params = nb::make_tuple(t.q_scale(), t.q_zero_point());
  } else {
    params = nb::make_tuple(tensor(t.q_per_channel_scales()), tensor(t.q_per_channel_zero_points()), t.q_axis());
  }
  return glue_.attr("qtensor")(base, dt, t.storage_offset(), shape_tuple(t.shape()), shape_tuple(t.strides()),
                               py_str(quant_scheme_name(t.qscheme())), params);
}

nb::object converter::tensor(tensor_view t) {
  if (!t.subclass().empty())
    raise_py(PyExc_NotImplementedError, "pthsafe.load: wrapper-subclass tensors (" + std::string(t.subclass()) +
                                 ") are not converted to torch");
  nb::object dt = py_str(dtype_name(t.element_type()));
  nb::object out;
  if (t.is_sparse())
    out = sparse(t);
  else if (t.is_quantized())
    out = quantized(t, dt);
  else if (!t.has_storage())
    out = glue_.attr("meta_tensor")(shape_tuple(t.shape()), shape_tuple(t.strides()), dt);
  else
    out = storage_tensor(t, dt);
  if (t.is_conj() || t.is_neg()) out = glue_.attr("set_bits")(out, t.is_conj(), t.is_neg());
  if (t.is_parameter()) return glue_.attr("parameter")(out, t.requires_grad());
  if (t.requires_grad()) glue_.attr("requires_grad")(out);
  return out;
}

}  // namespace pthsafe::py
