// Data beyond torch's allowlist (docs/policy.md): torch.torch_version.TorchVersion, numpy
// scalars and numeric numpy arrays, decoded from the exact forms torch and numpy pickle them in,
// without numpy and without calling anything. Each is flagged with a beyond_torch_allowlist
// warning, or refused under strict_torch, since torch.load(weights_only=True) refuses them.
#include <algorithm>
#include <array>
#include <cstring>
#include <string_view>

#include "io/checked.hpp"
#include "torch/arg_kinds.hpp"
#include "torch/rebuild.hpp"
#include "util/try.hpp"

namespace pthsafe::detail {
namespace {

using va = value_access;

// numpy's dtype strings for the numeric types it pickles as data ("f4" is float32): kind
// letter + itemsize, as `numpy.dtype.__reduce__` writes them.
struct numpy_type { std::string_view code; dtype type; };
constexpr std::array<numpy_type, 14> numpy_types{{
    {"b1", dtype::boolean}, {"i1", dtype::int8}, {"i2", dtype::int16}, {"i4", dtype::int32},
    {"i8", dtype::int64}, {"u1", dtype::uint8}, {"u2", dtype::uint16}, {"u4", dtype::uint32},
    {"u8", dtype::uint64}, {"f2", dtype::float16}, {"f4", dtype::float32}, {"f8", dtype::float64},
    {"c8", dtype::complex64}, {"c16", dtype::complex128},
}};

std::uint8_t numpy_tag(dtype t, bool big_endian) {
  return static_cast<std::uint8_t>(va::tag_numpy | (big_endian ? va::tag_big_endian : 0) | static_cast<std::uint8_t>(t));
}

bool is_numpy_dtype(const value& v) { return v.kind() == value_kind::dtype && (va::tag(v) & va::tag_numpy) != 0; }
dtype numpy_type_of(const value& v) { return static_cast<dtype>(va::tag(v) & va::tag_dtype_mask); }
bool numpy_big_endian(const value& v) { return (va::tag(v) & va::tag_big_endian) != 0; }

bool is_none(const value& v) { return v.kind() == value_kind::none; }
bool is_int_equal(const value& v, std::int64_t x) { return is_int(v) && v.as_int64() == x; }

// Element bytes to little-endian, in place (complex numbers swap each half).
void to_little_endian(char* p, std::size_t n, dtype t) {
  const std::size_t part = is_complex(t) ? itemsize(t) / 2 : itemsize(t);
  if (part < 2) return;
  for (std::size_t i = 0; i + part <= n; i += part) std::reverse(p + i, p + i + part);
}

template <class T>
T load_le(const char* p) {
  T x;
  std::memcpy(&x, p, sizeof(T));
  return x;
}

}  // namespace

result<void> torch_rebuilder::beyond_torch(const call& c) {
  if (opts_.strict_torch)
    return fail(errc::pickle_global_not_torch,
                "global " + std::string(c.callable.text()) + ": torch.load(weights_only=True) refuses it (strict_torch)");
  const auto bit = static_cast<std::size_t>(c.g.id) - static_cast<std::size_t>(global_id::torch_version);
  if (bit < warned_beyond_.size() && !warned_beyond_[bit]) {
    warned_beyond_[bit] = true;
    st_.warnings.push_back((m_ ? m_->record() : std::string()) + "@" + std::to_string(m_ ? m_->opcode_offset() : 0) +
                           ": global " + std::string(c.callable.text()) +
                           ": beyond torch's allowlist, torch.load(weights_only=True) would refuse it");
  }
  return {};
}

// TorchVersion(str) by NEWOBJ (protocol 2, what torch.save writes) or REDUCE: a str.
result<value*> torch_rebuilder::call_torch_version(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 1 || a[0]->kind() != value_kind::string)
    return fail(errc::bad_rebuild_args, "TorchVersion takes exactly one str");
  PTHSAFE_TRY(beyond_torch(c));
  if (!st_.charge(a[0]->text().size()))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::string));
  va::set_text(st_.mem, *v, a[0]->text());
  va::tag(*v) = va::tag_torch_version;
  return v;
}

// A TorchVersion has no instance state: only the empty state the pickler could write.
result<void> torch_rebuilder::build_torch_version(const value& state) {
  if (is_none(state) || (state.kind() == value_kind::dict && state.size() == 0 && state.dict_class().empty())) return {};
  return fail(errc::pickle_build_refused, "BUILD on a TorchVersion with a non-empty state");
}

// numpy.dtype(code, False, True), as numpy pickles a dtype: numeric codes only.
result<value*> torch_rebuilder::call_numpy_dtype(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 3 || a[0]->kind() != value_kind::string || a[1]->kind() != value_kind::boolean || a[1]->as_bool() ||
      a[2]->kind() != value_kind::boolean || !a[2]->as_bool())
    return fail(errc::bad_rebuild_args, "numpy.dtype takes (code, False, True) as numpy pickles it");
  const std::string_view code = a[0]->text();
  const auto it = std::find_if(numpy_types.begin(), numpy_types.end(), [&](const numpy_type& n) { return n.code == code; });
  if (it == numpy_types.end())
    return fail(errc::numpy_dtype_refused, "numpy dtype '" + std::string(code.substr(0, 32)) +
                                               "' is not a plain numeric type (object, structured, string and "
                                               "datetime dtypes are refused)");
  PTHSAFE_TRY(beyond_torch(c));
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::dtype));
  va::i(*v) = static_cast<std::int64_t>(it->type);
  va::share_text(*v, dtype_name(it->type));
  va::tag(*v) = numpy_tag(it->type, false);
  return v;
}

// numpy's dtype state: (3, byteorder, None, None, None, -1, -1, 0) for a numeric type; anything
// else (fields, subarrays, metadata, explicit sizes) is no plain numeric dtype.
result<void> torch_rebuilder::build_numpy_dtype(value& inst, const value& state) {
  if (va::tag(inst) & va::tag_built) return fail(errc::pickle_build_refused, "BUILD on a numpy dtype twice");
  const auto s = state.items();
  if (state.kind() != value_kind::tuple || s.size() != 8 || !is_int_equal(*s[0], 3) || s[1]->kind() != value_kind::string ||
      !is_none(*s[2]) || !is_none(*s[3]) || !is_none(*s[4]) || !is_int_equal(*s[5], -1) || !is_int_equal(*s[6], -1) ||
      !is_int_equal(*s[7], 0))
    return fail(errc::numpy_dtype_refused,
                "numpy dtype state is not (3, byteorder, None, None, None, -1, -1, 0): not a plain numeric dtype");
  const dtype t = numpy_type_of(inst);
  const std::string_view order = s[1]->text();
  const bool single = itemsize(t) == 1;
  if (single ? order != "|" : (order != "<" && order != ">" && order != "="))
    return fail(errc::bad_rebuild_args, "numpy dtype byte order '" + std::string(order.substr(0, 8)) + "' for " +
                                            std::string(dtype_name(t)));
  va::tag(inst) = static_cast<std::uint8_t>(numpy_tag(t, order == ">") | va::tag_built);
  return {};
}

// numpy.core.multiarray.scalar(dtype, bytes): one element as its Python kind.
result<value*> torch_rebuilder::call_numpy_scalar(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 2 || !is_numpy_dtype(*a[0]) || a[1]->kind() != value_kind::bytes)
    return fail(errc::bad_rebuild_args, "numpy scalar takes (numpy.dtype, bytes)");
  const dtype t = numpy_type_of(*a[0]);
  const std::string_view raw = a[1]->text();
  if (raw.size() != itemsize(t))
    return fail(errc::bad_rebuild_args, "numpy " + std::string(dtype_name(t)) + " scalar of " + std::to_string(raw.size()) +
                                            " bytes, not " + std::to_string(itemsize(t)));
  PTHSAFE_TRY(beyond_torch(c));
  std::array<char, 16> b{};
  std::memcpy(b.data(), raw.data(), raw.size());
  if (numpy_big_endian(*a[0])) to_little_endian(b.data(), raw.size(), t);
  value* v = nullptr;
  auto make = [&](value_kind k) -> result<void> {
    PTHSAFE_ASSIGN(v, alloc(k));
    va::tag(*v) = numpy_tag(t, false);
    return {};
  };
  switch (t) {
    case dtype::boolean:
      if (static_cast<unsigned char>(b[0]) > 1) return fail(errc::bad_rebuild_args, "numpy bool scalar byte is not 0 or 1");
      PTHSAFE_TRY(make(value_kind::boolean));
      va::small(*v) = static_cast<std::uint8_t>(b[0]);
      break;
    case dtype::int8: {  // two's complement byte, sign-extended
      PTHSAFE_TRY(make(value_kind::integer));
      const std::int64_t u = load_le<std::uint8_t>(b.data());
      va::i(*v) = u >= 128 ? u - 256 : u;
      break;
    }
    case dtype::int16: PTHSAFE_TRY(make(value_kind::integer)); va::i(*v) = load_le<std::int16_t>(b.data()); break;
    case dtype::int32: PTHSAFE_TRY(make(value_kind::integer)); va::i(*v) = load_le<std::int32_t>(b.data()); break;
    case dtype::int64: PTHSAFE_TRY(make(value_kind::integer)); va::i(*v) = load_le<std::int64_t>(b.data()); break;
    case dtype::uint8: PTHSAFE_TRY(make(value_kind::integer)); va::i(*v) = load_le<std::uint8_t>(b.data()); break;
    case dtype::uint16: PTHSAFE_TRY(make(value_kind::integer)); va::i(*v) = load_le<std::uint16_t>(b.data()); break;
    case dtype::uint32: PTHSAFE_TRY(make(value_kind::integer)); va::i(*v) = load_le<std::uint32_t>(b.data()); break;
    case dtype::uint64: {
      PTHSAFE_TRY(make(value_kind::integer));
      const auto u = load_le<std::uint64_t>(b.data());
      if (u <= static_cast<std::uint64_t>(INT64_MAX)) {
        va::i(*v) = static_cast<std::int64_t>(u);
      } else {
        // Beyond int64: the big-int form (two's complement, little-endian, a 0 byte for the sign).
        if (!st_.charge(9))
          return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
        std::array<char, 9> le{};
        std::memcpy(le.data(), b.data(), 8);
        va::set_text(st_.mem, *v, std::string_view(le.data(), le.size()));
        va::small(*v) = flag_int_raw;
      }
      break;
    }
    case dtype::float16:
      PTHSAFE_TRY(make(value_kind::floating));
      va::f(*v) = static_cast<double>(float16{load_le<std::uint16_t>(b.data())}.to_float());
      break;
    case dtype::float32: PTHSAFE_TRY(make(value_kind::floating)); va::f(*v) = load_le<float>(b.data()); break;
    case dtype::float64: PTHSAFE_TRY(make(value_kind::floating)); va::f(*v) = load_le<double>(b.data()); break;
    case dtype::complex64:
      PTHSAFE_TRY(make(value_kind::complex));
      va::f(*v) = load_le<float>(b.data());
      va::g(*v) = load_le<float>(b.data() + 4);
      break;
    case dtype::complex128:
      PTHSAFE_TRY(make(value_kind::complex));
      va::f(*v) = load_le<double>(b.data());
      va::g(*v) = load_le<double>(b.data() + 8);
      break;
    default: return fail(errc::numpy_dtype_refused, "numpy scalar of an undecoded dtype");
  }
  return v;
}

// _reconstruct(numpy.ndarray, (0,), b'b'): the empty int8 array numpy fills by BUILD.
result<value*> torch_rebuilder::call_numpy_reconstruct(const call& c) {
  const auto a = c.args.items();
  if (a.size() != 3 || a[0]->kind() != value_kind::global || global_of(*a[0]).id != global_id::numpy_ndarray ||
      a[1]->kind() != value_kind::tuple || a[1]->items().size() != 1 || !is_int_equal(*a[1]->items()[0], 0) ||
      a[2]->kind() != value_kind::bytes || a[2]->text() != "b")
    return fail(errc::bad_rebuild_args, "_reconstruct takes (numpy.ndarray, (0,), b'b') as numpy pickles an array");
  PTHSAFE_TRY(beyond_torch(c));
  PTHSAFE_ASSIGN(value* zero, alloc(value_kind::integer));
  PTHSAFE_ASSIGN(value* v, alloc(value_kind::ndarray));
  const std::array<const value*, 1> shape = {zero};
  if (!st_.charge(slot_bytes) || !va::set_items(st_.mem, *v, shape))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  va::tag(*v) = numpy_tag(dtype::int8, false);
  return v;
}

// ndarray.__setstate__((1, shape, dtype, is_fortran, raw)): the elements, stored in C order and
// little-endian so that every consumer reads one layout.
result<void> torch_rebuilder::build_ndarray(value& inst, const value& state) {
  if (va::tag(inst) & va::tag_built) return fail(errc::pickle_build_refused, "BUILD on a numpy array twice");
  const auto s = state.items();
  if (state.kind() != value_kind::tuple || s.size() != 5 || !is_int_equal(*s[0], 1) || s[1]->kind() != value_kind::tuple ||
      s[3]->kind() != value_kind::boolean)
    return fail(errc::bad_rebuild_args, "numpy array state is not (1, shape, dtype, is_fortran, data)");
  if (!is_numpy_dtype(*s[2])) return fail(errc::bad_rebuild_args, "numpy array state's dtype is not a numpy.dtype");
  if (s[4]->kind() != value_kind::bytes)
    return fail(errc::numpy_dtype_refused, "numpy array data is not bytes (an object array's list of objects)");
  const dtype t = numpy_type_of(*s[2]);
  const auto dims = s[1]->items();
  if (dims.size() > opts_.limits.max_dims)
    return fail(errc::limit_exceeded, "limit max_dims (" + std::to_string(opts_.limits.max_dims) + ") exceeded by a numpy array");
  std::vector<std::uint64_t> shape;
  std::uint64_t numel = 1;
  for (const value* d : dims) {
    if (!is_int(*d) || d->as_int64() < 0) return fail(errc::bad_rebuild_args, "numpy array shape holds a negative or non-int size");
    shape.push_back(static_cast<std::uint64_t>(d->as_int64()));
    const auto n = checked_mul(numel, shape.back());
    if (!n) return fail(errc::bad_rebuild_args, "numpy array shape overflows");
    numel = *n;
  }
  const auto nbytes = checked_mul<std::uint64_t>(numel, itemsize(t));
  const std::string_view raw = s[4]->text();
  if (!nbytes || *nbytes != raw.size())
    return fail(errc::bad_rebuild_args, "numpy " + std::string(dtype_name(t)) + " array data holds " +
                                            std::to_string(raw.size()) + " bytes, its shape needs " +
                                            (nbytes ? std::to_string(*nbytes) : std::string("more than 2^64")));
  if (t == dtype::boolean)
    for (char ch : raw)
      if (static_cast<unsigned char>(ch) > 1) return fail(errc::bad_rebuild_args, "numpy bool array holds a byte other than 0 or 1");
  if (!st_.charge(raw.size()) || !st_.charge(dims.size() * slot_bytes))
    return fail(errc::limit_exceeded, "limit max_tree_bytes (" + std::to_string(opts_.limits.max_tree_bytes) + ") exceeded");
  char* out = va::make_text(st_.mem, inst, raw.size());
  const bool fortran = s[3]->as_bool() && dims.size() > 1;
  if (!fortran) {
    if (!raw.empty()) std::memcpy(out, raw.data(), raw.size());
  } else {
    // Fortran order: the first index varies fastest. Walk C order, reading each element's
    // Fortran position (sizes are bounded by raw.size(), so no product overflows).
    const std::size_t k = itemsize(t);
    const std::size_t nd = shape.size();
    std::vector<std::uint64_t> idx(nd, 0), fstride(nd, 1);
    for (std::size_t i = 1; i < nd; ++i) fstride[i] = fstride[i - 1] * shape[i - 1];
    for (std::uint64_t e = 0; e < numel; ++e) {
      std::uint64_t src = 0;
      for (std::size_t i = 0; i < nd; ++i) src += idx[i] * fstride[i];
      std::memcpy(out + e * k, raw.data() + src * k, k);
      for (std::size_t i = nd; i-- > 0;) {
        if (++idx[i] < shape[i]) break;
        idx[i] = 0;
      }
    }
  }
  if (numpy_big_endian(*s[2])) to_little_endian(out, raw.size(), t);
  if (!va::set_items(st_.mem, inst, dims))
    return fail(errc::limit_exceeded, "limit max_container_items (" + std::to_string(opts_.limits.max_container_items) + ") exceeded");
  va::tag(inst) = static_cast<std::uint8_t>(numpy_tag(t, false) | va::tag_built);
  return {};
}

}  // namespace pthsafe::detail
